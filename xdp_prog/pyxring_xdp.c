// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pyxring's XDP program: count every frame, give the user's filter (a tail
 * call into filter_jmp[0]) the first word, then redirect to the AF_XDP socket
 * of the frame's RX queue; frames of queues nobody listens on go up the stack.
 *
 * Four entry points share one body: plain and multi-buffer (xdp.frags, for
 * MTUs larger than a UMEM chunk), each with and without the re-insertion of
 * VLAN tags that the driver took out of the frame (the *_vlan ones call a
 * metadata kfunc and so must be loaded device-bound, native mode only).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "pyxring_xdp.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, PYXRING_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pyxring_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} filter_jmp SEC(".maps");

/* Weak: the object still loads on kernels without it (then never called). */
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym __weak;

/* Put an offloaded tag back where it was on the wire: after the MACs. */
static __always_inline void restore_vlan(struct xdp_md *ctx, struct pyxring_counters *c)
{
	__be16 proto;
	__u16 tci;
	__u8 *data, *end;
	int i;

	if (!bpf_xdp_metadata_rx_vlan_tag)
		return;
	if (bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci))
		return;		/* no tag (-ENODATA) or driver can't tell */
	if (bpf_xdp_adjust_head(ctx, -4)) {
		c->vlan_lost++;
		return;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + 4 > end) {
		c->vlan_lost++;
		return;
	}
	for (i = 0; i < 2 * ETH_ALEN; i++)
		data[i] = data[i + 4];
	*(__be16 *)(data + 12) = proto;
	*(__be16 *)(data + 14) = bpf_htons(tci);
	c->vlan_restored++;
}

static __always_inline int pyxring_body(struct xdp_md *ctx, int recover_vlan)
{
	__u32 key = 0;
	struct pyxring_counters *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	c->seen++;
	if (recover_vlan)
		restore_vlan(ctx, c);
	/* Returns only when the slot is empty: no filter, take everything. */
	bpf_tail_call(ctx, &filter_jmp, PYXRING_FILTER_SLOT);
	/* XDP_PASS as the flags' fallback: no socket on this queue. */
	if (bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT) {
		c->redirected++;
		return XDP_REDIRECT;
	}
	c->passed++;
	return XDP_PASS;
}

SEC("xdp")
int pyxring_xdp(struct xdp_md *ctx)
{
	return pyxring_body(ctx, 0);
}

SEC("xdp.frags")
int pyxring_xdp_frags(struct xdp_md *ctx)
{
	return pyxring_body(ctx, 0);
}

SEC("xdp")
int pyxring_xdp_vlan(struct xdp_md *ctx)
{
	return pyxring_body(ctx, 1);
}

SEC("xdp.frags")
int pyxring_xdp_vlan_frags(struct xdp_md *ctx)
{
	return pyxring_body(ctx, 1);
}

char _license[] SEC("license") = "Dual BSD/GPL";
