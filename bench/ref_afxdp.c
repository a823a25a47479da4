// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ref_afxdp - the reference consumer for the AF_XDP path.
 *
 * One AF_XDP socket on queue 0 in copy mode (veth has no zero-copy), fed by
 * pyxring's own XDP program (xdp_prog/pyxring_xdp.o, attached by BPF link
 * so it goes away with the process).  Each descriptor's bytes are read once
 * (a byte sum) and its chunk goes straight back to the fill ring.  When the
 * RX ring is empty it sleeps a fixed interval (1 ms by default) instead of
 * poll()ing: in copy mode the kernel fills the ring from the sender's
 * softirq without needing a wake-up, and on this VM each wake-up is dear,
 * so fewer, larger batches cost the least CPU; the rings (8192 entries)
 * hold far more than 1 ms of traffic at any rate this VM reaches.
 *
 *   ref_afxdp IFACE XDP_OBJECT [sleep_us [ring_size]]
 *
 * Prints "READY" on stderr once attached, and on SIGINT/SIGTERM one line
 * "RESULT captured=N received=R dropped=D sum=S ring_full=F fill_empty=E".
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyxring_xdp.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define FRAME_SIZE 2048u

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct ring {
	__u32 *producer;
	__u32 *consumer;
	void *descs;
	__u32 mask;
	__u32 size;
	__u32 cached_prod;
	__u32 cached_cons;
	void *map;
	size_t map_len;
};

/* RX: entries the kernel produced.  The acquire load of the producer pairs
 * with the kernel's release store (smp_store_release in xskq_prod_submit),
 * so the descriptors it covers are visible. */
static inline __u32 rx__peek(struct ring *r)
{
	r->cached_prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	return r->cached_prod - r->cached_cons;
}

/* RX: hand the consumed descriptors back; the release store orders our
 * reads of them before the kernel reuses the slots (pairs with the
 * kernel's acquire load of the consumer in xskq_prod_reserve). */
static inline void rx__release(struct ring *r, __u32 n)
{
	r->cached_cons += n;
	__atomic_store_n(r->consumer, r->cached_cons, __ATOMIC_RELEASE);
}

/* Fill: free slots.  The acquire load of the consumer pairs with the
 * kernel's release of fill entries it has taken (xskq_cons_release). */
static inline __u32 fill__free(struct ring *r)
{
	__u32 cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);

	return r->size - (r->cached_prod - cons);
}

/* Fill: publish new entries; the release store makes the addresses we
 * wrote visible before the kernel sees the new producer (pairs with its
 * acquire load in xskq_cons_peek_addr). */
static inline void fill__submit(struct ring *r, __u32 n)
{
	r->cached_prod += n;
	__atomic_store_n(r->producer, r->cached_prod, __ATOMIC_RELEASE);
}

static int map_ring(int fd, struct ring *r, const struct xdp_ring_offset *off, __u32 size,
		    size_t entry, off_t pgoff)
{
	r->map_len = off->desc + size * entry;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (r->map == MAP_FAILED)
		return -errno;
	r->producer = (void *)((char *)r->map + off->producer);
	r->consumer = (void *)((char *)r->map + off->consumer);
	r->descs = (char *)r->map + off->desc;
	r->size = size;
	r->mask = size - 1;
	r->cached_prod = r->cached_cons = 0;
	return 0;
}

static unsigned long long percpu_seen(int map_fd)
{
	int ncpu = libbpf_num_possible_cpus();
	struct pyxring_counters *vals;
	unsigned long long seen = 0;
	__u32 key = 0;
	int i;

	if (ncpu <= 0)
		return 0;
	vals = calloc(ncpu, sizeof(*vals));
	if (vals && bpf_map_lookup_elem(map_fd, &key, vals) == 0)
		for (i = 0; i < ncpu; i++)
			seen += vals[i].seen;
	free(vals);
	return seen;
}

int main(int argc, char **argv)
{
	unsigned int sleep_us = argc > 3 ? atoi(argv[3]) : 1000;
	__u32 ring_size = argc > 4 ? atoi(argv[4]) : 8192;
	__u32 nframes = ring_size * 2;
	unsigned long long captured = 0, sum = 0, seen0;
	struct xdp_mmap_offsets off;
	struct xdp_statistics xst = { 0 };
	struct xdp_umem_reg mr = { 0 };
	struct sockaddr_xdp sxdp = { 0 };
	struct ring rx = { 0 }, fill = { 0 }, comp = { 0 };
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	int fd, xsks_fd, counters_fd, err = 1;
	__u32 key = 0, i;
	socklen_t len;
	unsigned int ifindex;
	void *umem;
	size_t umem_len = (size_t)nframes * FRAME_SIZE;

	if (argc < 3) {
		fprintf(stderr, "usage: %s IFACE XDP_OBJECT [sleep_us [ring_size]]\n", argv[0]);
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "ref_afxdp: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj || libbpf_get_error(obj)) {
		fprintf(stderr, "ref_afxdp: can't open %s\n", argv[2]);
		return 1;
	}
	/* Only the plain entry point is needed; don't load the device-bound ones. */
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), PYXRING_PROG_PLAIN));
	if (bpf_object__load(obj)) {
		fprintf(stderr, "ref_afxdp: loading %s failed\n", argv[2]);
		goto out_obj;
	}
	prog = bpf_object__find_program_by_name(obj, PYXRING_PROG_PLAIN);
	xsks_fd = bpf_object__find_map_fd_by_name(obj, PYXRING_XSKS_MAP_NAME);
	counters_fd = bpf_object__find_map_fd_by_name(obj, PYXRING_COUNTERS_MAP_NAME);
	if (!prog || xsks_fd < 0 || counters_fd < 0) {
		fprintf(stderr, "ref_afxdp: %s lacks the program or maps\n", argv[2]);
		goto out_obj;
	}

	fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0) {
		perror("ref_afxdp: socket(AF_XDP)");
		goto out_obj;
	}
	umem = mmap(NULL, umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		    -1, 0);
	if (umem == MAP_FAILED) {
		perror("ref_afxdp: mmap umem");
		goto out_sock;
	}
	mr.addr = (__u64)(uintptr_t)umem;
	mr.len = umem_len;
	mr.chunk_size = FRAME_SIZE;
	mr.headroom = 0;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &nframes, sizeof(nframes)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring_size, sizeof(ring_size)) ||
	    setsockopt(fd, SOL_XDP, XDP_RX_RING, &ring_size, sizeof(ring_size))) {
		perror("ref_afxdp: setsockopt");
		goto out_umem;
	}
	len = sizeof(off);
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len)) {
		perror("ref_afxdp: XDP_MMAP_OFFSETS");
		goto out_umem;
	}
	if (map_ring(fd, &rx, &off.rx, ring_size, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING) ||
	    map_ring(fd, &fill, &off.fr, nframes, sizeof(__u64), XDP_UMEM_PGOFF_FILL_RING) ||
	    map_ring(fd, &comp, &off.cr, ring_size, sizeof(__u64), XDP_UMEM_PGOFF_COMPLETION_RING)) {
		perror("ref_afxdp: mmap rings");
		goto out_rings;
	}
	/* Every chunk starts out in the fill ring. */
	for (i = 0; i < nframes; i++)
		((__u64 *)fill.descs)[i & fill.mask] = (__u64)i * FRAME_SIZE;
	fill__submit(&fill, nframes);

	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_ifindex = ifindex;
	sxdp.sxdp_queue_id = 0;
	sxdp.sxdp_flags = XDP_COPY;
	if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp))) {
		perror("ref_afxdp: bind");
		goto out_rings;
	}
	if (bpf_map_update_elem(xsks_fd, &key, &fd, 0)) {
		perror("ref_afxdp: xsks_map update");
		goto out_rings;
	}
	link = bpf_program__attach_xdp(prog, ifindex);
	if (!link || libbpf_get_error(link)) {
		link = NULL;
		fprintf(stderr, "ref_afxdp: attaching XDP to %s failed\n", argv[1]);
		goto out_rings;
	}
	seen0 = percpu_seen(counters_fd);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "READY\n");

	while (!stop) {
		__u32 n = rx__peek(&rx), k, room;

		if (!n) {
			struct timespec ts = { 0, (long)sleep_us * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		/* The fill ring holds every chunk, so room for n always exists;
		 * checked anyway so a logic slip shows as a stall, not corruption. */
		room = fill__free(&fill);
		if (room < n)
			n = room;
		for (k = 0; k < n; k++) {
			const struct xdp_desc *d =
				&((struct xdp_desc *)rx.descs)[(rx.cached_cons + k) & rx.mask];
			const uint8_t *p = (const uint8_t *)umem + d->addr;
			__u32 j;

			for (j = 0; j < d->len; j++)
				sum += p[j];
			((__u64 *)fill.descs)[(fill.cached_prod + k) & fill.mask] =
				d->addr & ~(__u64)(FRAME_SIZE - 1);
		}
		captured += n;
		rx__release(&rx, n);
		fill__submit(&fill, n);
	}
	len = sizeof(xst);
	getsockopt(fd, SOL_XDP, XDP_STATISTICS, &xst, &len);
	/* "received" = what reached the capture point (the XDP program). */
	printf("RESULT captured=%llu received=%llu dropped=%llu sum=%llu ring_full=%llu "
	       "fill_empty=%llu\n", captured, percpu_seen(counters_fd) - seen0,
	       (unsigned long long)(xst.rx_dropped + xst.rx_ring_full + xst.rx_fill_ring_empty_descs),
	       sum, (unsigned long long)xst.rx_ring_full,
	       (unsigned long long)xst.rx_fill_ring_empty_descs);
	fflush(stdout);
	err = 0;
	bpf_link__destroy(link);
out_rings:
	if (rx.map && rx.map != MAP_FAILED)
		munmap(rx.map, rx.map_len);
	if (fill.map && fill.map != MAP_FAILED)
		munmap(fill.map, fill.map_len);
	if (comp.map && comp.map != MAP_FAILED)
		munmap(comp.map, comp.map_len);
out_umem:
	munmap(umem, umem_len);
out_sock:
	close(fd);
out_obj:
	bpf_object__close(obj);
	return err;
}
