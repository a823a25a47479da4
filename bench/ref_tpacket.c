// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ref_tpacket - the reference consumer for the AF_PACKET TPACKET_V3 path.
 *
 * What a careful C program gets out of the kernel path pyxring's tpacket
 * backend uses: one RX ring of blocks, poll() only when the next block is
 * not ready yet, every packet's bytes read once (a byte sum, so the
 * compiler can't skip the loads).  The benchmark compares pyxring with it.
 *
 *   ref_tpacket IFACE [block_size_kib block_count block_timeout_ms]
 *
 * Prints "READY" on stderr once the ring is mapped and bound, and on
 * SIGINT/SIGTERM one line "RESULT captured=N received=R dropped=D sum=S".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The kernel hands a block over by setting TP_STATUS_USER; the acquire load
 * pairs with the kernel's smp_wmb() before it stores the status, so the
 * packets in the block are visible once we see it. */
static inline int block__ready(struct tpacket_block_desc *b)
{
	return __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER;
}

/* Giving the block back: the release store orders our reads of the block
 * before the kernel may overwrite it (pairs with the kernel's read of
 * block_status in prb_... before it reuses the block). */
static inline void block__release(struct tpacket_block_desc *b)
{
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
	unsigned int block_kib = argc > 2 ? atoi(argv[2]) : 1024;
	unsigned int block_nr = argc > 3 ? atoi(argv[3]) : 8;
	unsigned int tov_ms = argc > 4 ? atoi(argv[4]) : 10;
	struct tpacket_req3 req = { 0 };
	struct sockaddr_ll sll = { 0 };
	struct tpacket_stats_v3 st = { 0 };
	unsigned long long captured = 0, received = 0, dropped = 0, sum = 0;
	int ver = TPACKET_V3, fd, err = 1;
	unsigned int cur = 0, ifindex;
	socklen_t len;
	uint8_t *ring;
	size_t ring_size;

	if (argc < 2) {
		fprintf(stderr, "usage: %s IFACE [block_kib block_nr timeout_ms]\n", argv[0]);
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "ref_tpacket: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("ref_tpacket: socket");
		return 1;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver))) {
		perror("ref_tpacket: PACKET_VERSION");
		goto out_close;
	}
	req.tp_block_size = block_kib * 1024;
	req.tp_block_nr = block_nr;
	req.tp_frame_size = 2048;
	req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * block_nr;
	req.tp_retire_blk_tov = tov_ms;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) {
		perror("ref_tpacket: PACKET_RX_RING");
		goto out_close;
	}
	ring_size = (size_t)req.tp_block_size * block_nr;
	ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
	if (ring == MAP_FAILED) {
		perror("ref_tpacket: mmap");
		goto out_close;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("ref_tpacket: bind");
		goto out_unmap;
	}
	/* Reading the counters resets them: start from zero once set up, so
	 * frames seen before bind() completed don't count. */
	len = sizeof(st);
	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "READY\n");

	while (!stop) {
		struct tpacket_block_desc *b = (void *)(ring + (size_t)cur * req.tp_block_size);
		struct tpacket3_hdr *h;
		unsigned int i, n;

		if (!block__ready(b)) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLERR };

			poll(&pfd, 1, 100);
			continue;
		}
		n = b->hdr.bh1.num_pkts;
		h = (void *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
		for (i = 0; i < n; i++) {
			const uint8_t *p = (const uint8_t *)h + h->tp_mac;
			unsigned int j;

			for (j = 0; j < h->tp_snaplen; j++)
				sum += p[j];
			captured++;
			h = (void *)((uint8_t *)h + h->tp_next_offset);
		}
		block__release(b);
		cur = (cur + 1) % block_nr;
	}
	len = sizeof(st);
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
		received += st.tp_packets;
		dropped += st.tp_drops;
	}
	/* PACKET_STATISTICS counts received including drops (tcpdump subtracts
	 * nothing either: "received by filter" is tp_packets). */
	printf("RESULT captured=%llu received=%llu dropped=%llu sum=%llu\n",
	       captured, received, dropped, sum);
	fflush(stdout);
	err = 0;
out_unmap:
	munmap(ring, ring_size);
out_close:
	close(fd);
	return err;
}
