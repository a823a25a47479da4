// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A PACKET_FANOUT_EBPF program for pyxring.workers: each VLAN to a worker
 * of its own (VLAN id modulo the number of workers; untagged frames to
 * worker 0).  The kernel takes the tag out of received frames before the
 * fanout chooses, and hands it over in the skb's metadata.
 *
 *     clang -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu \
 *           -c examples/fanout_by_vlan.c -o fanout_by_vlan.o
 *     pyxring capture eth0 --workers 4 --fanout-prog fanout_by_vlan.o -w out.pcapng
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int fanout_by_vlan(struct __sk_buff *skb)
{
	return skb->vlan_present ? skb->vlan_tci & 0x0fff : 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
