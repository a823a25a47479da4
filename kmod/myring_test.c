// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-side checks of /dev/myring, built static so it runs from a bare
 * initramfs.  Each check prints one line "MYRING-CHECK <name> ok" or
 * "MYRING-CHECK <name> FAIL <why>"; the run ends with
 * "MYRING-C-DONE <mode> failures=<n>".  The host decides from these lines.
 *
 *   myring_test protocol   ring protocol, ioctls, watermarks, overflow/DROP
 *   myring_test unload     unloading while mapped/open is refused, then works
 *   myring_test fake       the consumer helpers on a fake ring (any host)
 *   myring_test overflow S | kill N | unload-foreign   abuse (myring_abuse.c)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "myring_check.h"

/* The ABI has the same layout in user space as in the kernel. */
_Static_assert(offsetof(struct myring_hdr, producer) == 64, "producer on its own line");
_Static_assert(offsetof(struct myring_hdr, consumer) == 128, "consumer on its own line");
_Static_assert(sizeof(struct myring_rec) == MYRING_ALIGN, "a PAD header fits any tail");
_Static_assert(sizeof(struct myring_config) == 32 && sizeof(struct myring_info) == 24 &&
	       sizeof(struct myring_stats) == 80, "no implicit padding");

static int eventfd_fired(int efd, int timeout_ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	return read(efd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

static int test_protocol(void)
{
	struct myring_info info;
	struct myring_config cfg;
	struct myring_stats st;
	struct myring_consumer c;
	struct tally t;
	struct stat sb;
	struct pollfd pfd;
	fd_set rfds;
	struct timeval tv;
	int fd, fd2, efd, bad_fd, err, i, n;
	void *map;
	uint64_t fill;
	size_t sz;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	check("open", fd >= 0, "%s", strerror(errno));
	if (fd < 0)
		return 1;
	check("mode-0600", stat(DEV, &sb) == 0 && S_ISCHR(sb.st_mode) &&
	      (sb.st_mode & 0777) == 0600, "mode %o", sb.st_mode & 0777);
	fd2 = open(DEV, O_RDWR);
	check("second-open-ebusy", fd2 < 0 && errno == EBUSY, "fd2=%d errno=%d", fd2, errno);
	if (fd2 >= 0)
		close(fd2);

	/* --- mmap --- */
	err = ioctl_errno(fd, MYRING_IOC_INFO, &info);
	check("info", !err && info.hdr_size == MYRING_HDR_SIZE &&
	      info.mmap_size == (uint64_t)info.hdr_size + info.ring_size &&
	      info.ring_size && !(info.ring_size & (info.ring_size - 1)),
	      "err=%d ring=%u", err, info.ring_size);
	sz = info.mmap_size;
	map = mmap(NULL, sz - 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check("mmap-short-einval", map == MAP_FAILED && errno == EINVAL, "errno=%d", errno);
	if (map != MAP_FAILED)
		munmap(map, sz - 4096);
	map = mmap(NULL, sz + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check("mmap-long-einval", map == MAP_FAILED && errno == EINVAL, "errno=%d", errno);
	if (map != MAP_FAILED)
		munmap(map, sz + 4096);
	map = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	check("mmap-offset-einval", map == MAP_FAILED && errno == EINVAL, "errno=%d", errno);
	if (map != MAP_FAILED)
		munmap(map, sz);
	map = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check("mmap-private-einval", map == MAP_FAILED && errno == EINVAL, "errno=%d", errno);
	if (map != MAP_FAILED)
		munmap(map, sz);
	map = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check("mmap", map != MAP_FAILED, "%s", strerror(errno));
	if (map == MAP_FAILED)
		return 1;
	check("header", myring_consumer__init(&c, map) == 0 &&
	      c.ring_size == info.ring_size && c.hdr->rec_align == MYRING_ALIGN,
	      "magic %x", ((struct myring_hdr *)map)->magic);

	/* --- bad ioctl arguments --- */
	{
		static const struct { const char *name; int field; uint32_t val; } bad[] = {
			{ "rate-0", 1, 0 }, { "rate-huge", 1, MYRING_RATE_MAX + 1 },
			{ "size-small", 2, MYRING_SYNTH_MIN - 1 }, { "size-huge", 2, 1 << 20 },
			{ "mode", 0, 7 }, { "flags", 6, 1 }, { "pad", 7, 1 },
			{ "snaplen", 3, 10 }, { "wm-high-big", 4, 0xffffffffu },
		};
		char name[64];

		for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
			uint32_t *fields;

			cfg = default_config();
			fields = (uint32_t *)&cfg;
			fields[bad[i].field] = bad[i].val;
			snprintf(name, sizeof(name), "config-%s-einval", bad[i].name);
			err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
			check(name, err == EINVAL, "err=%d", err);
		}
		cfg = default_config();
		cfg.wm_high = 4096;
		cfg.wm_low = 4096;
		err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
		check("config-wm-low-ge-high-einval", err == EINVAL, "err=%d", err);
	}
	bad_fd = -5;
	err = ioctl_errno(fd, MYRING_IOC_SET_EVENTFD, &bad_fd);
	check("eventfd-negative-einval", err == EINVAL, "err=%d", err);
	bad_fd = fd;	/* not an eventfd */
	err = ioctl_errno(fd, MYRING_IOC_SET_EVENTFD, &bad_fd);
	check("eventfd-not-eventfd-einval", err == EINVAL, "err=%d", err);
	err = ioctl(fd, MYRING_IOC_START, 1UL) < 0 ? errno : 0;
	check("start-arg-einval", err == EINVAL, "err=%d", err);
	err = ioctl(fd, _IO(MYRING_IOC_MAGIC, 99), 0UL) < 0 ? errno : 0;
	check("unknown-ioctl-enotty", err == ENOTTY, "err=%d", err);
	err = ioctl_errno(fd, MYRING_IOC_CONFIG, (void *)16);
	check("config-badptr-efault", err == EFAULT, "err=%d", err);

	/* --- basic capture at 2 kHz, poll/select, final signal --- */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = ioctl_errno(fd, MYRING_IOC_SET_EVENTFD, &efd);
	check("eventfd-register", !err, "err=%d", err);
	cfg = default_config();
	err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
	err = err ? err : ioctl_errno(fd, MYRING_IOC_START, NULL);
	check("start", !err, "err=%d", err);
	err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
	check("config-running-ebusy", err == EBUSY, "err=%d", err);
	err = ioctl_errno(fd, MYRING_IOC_START, NULL);
	check("start-running-ebusy", err == EBUSY, "err=%d", err);
	pfd.fd = fd;
	pfd.events = POLLIN;
	n = poll(&pfd, 1, 3000);
	check("poll-readable", n == 1 && (pfd.revents & POLLIN), "n=%d revents=%x", n, pfd.revents);
	FD_ZERO(&rfds);
	FD_SET(fd, &rfds);
	tv.tv_sec = 3;
	tv.tv_usec = 0;
	n = select(fd + 1, &rfds, NULL, NULL, &tv);
	check("select-readable", n == 1 && FD_ISSET(fd, &rfds), "n=%d", n);
	check("flags-running", c.hdr->flags & MYRING_F_RUNNING, "flags=%x", c.hdr->flags);
	memset(&t, 0, sizeof(t));
	for (i = 0; i < 25; i++) {
		drain(&c, &t, cfg.record_size);
		sleep_ms(20);
	}
	ioctl(fd, MYRING_IOC_STOP, NULL);
	settle(fd, &c, &t, cfg.record_size);
	st = get_stats(fd);
	check("records-in-sequence", t.packets > 50 && !t.bad && !t.drops && !c.corrupt &&
	      t.packets == st.produced, "packets=%llu bad=%llu drops=%llu produced=%llu",
	      (unsigned long long)t.packets, (unsigned long long)t.bad,
	      (unsigned long long)t.drops, (unsigned long long)st.produced);
	check("flags-stopped", c.hdr->flags == MYRING_F_STOPPED, "flags=%x", c.hdr->flags);
	check("final-signal", eventfd_fired(efd, 0), "eventfd not signalled on stop");
	pfd.revents = 0;
	n = poll(&pfd, 1, 0);
	check("poll-empty", n == 0, "n=%d revents=%x", n, pfd.revents);

	/* --- watermarks with hysteresis --- */
	memset(&t, 0, sizeof(t));
	t.next_seq = get_stats(fd).produced;	/* every record spends one seq */
	cfg = default_config();
	cfg.rate_hz = 20000;
	cfg.wm_high = 64 * 1024;
	cfg.wm_low = 16 * 1024;
	err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
	err = err ? err : ioctl_errno(fd, MYRING_IOC_START, NULL);
	check("wm-start", !err, "err=%d", err);
	n = eventfd_fired(efd, 5000);
	fill = myring_consumer__avail(&c);
	check("wm-high-signal", n && fill >= cfg.wm_high, "fired=%d fill=%llu", n,
	      (unsigned long long)fill);
	/* Consume to between the watermarks: no re-arm, so no signal while the
	 * ring refills past the high mark. */
	while (c.cached_prod - c.pos > (cfg.wm_high + cfg.wm_low) / 2) {
		const struct myring_rec *rec = myring_consumer__next(&c);

		if (!rec)
			break;
		tally_record(&t, rec, cfg.record_size);
	}
	myring_consumer__release(&c, c.pos);
	sleep_ms(200);
	fill = myring_consumer__avail(&c);
	check("wm-no-signal-above-low", !eventfd_fired(efd, 0) && fill >= cfg.wm_high,
	      "signalled again without falling below low (fill=%llu)", (unsigned long long)fill);
	drain(&c, &t, cfg.record_size);
	n = eventfd_fired(efd, 5000);
	check("wm-rearm-after-low", n, "no signal after draining below low");
	ioctl(fd, MYRING_IOC_STOP, NULL);
	settle(fd, &c, &t, cfg.record_size);
	st = get_stats(fd);
	check("wm-records-in-sequence", !t.bad && t.packets > 0 && t.next_seq == st.produced &&
	      !st.lost_pending,
	      "bad=%llu next_seq=%llu produced=%llu", (unsigned long long)t.bad,
	      (unsigned long long)t.next_seq, (unsigned long long)st.produced);
	check("wm-signal-count", st.wm_signals >= 2 && c.hdr->wm_signals == st.wm_signals,
	      "wm_signals=%llu", (unsigned long long)st.wm_signals);
	eventfd_fired(efd, 0);

	/* --- overflow: exact loss accounting through DROP records --- */
	{
		struct myring_stats before = get_stats(fd);

		memset(&t, 0, sizeof(t));
		t.next_seq = before.produced;	/* seq == records generated so far */
		cfg = default_config();
		cfg.rate_hz = 100000;
		err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
		err = err ? err : ioctl_errno(fd, MYRING_IOC_START, NULL);
		sleep_ms(400);			/* nobody reads: the ring fills up */
		for (i = 0; i < 10; i++) {	/* read while it keeps overflowing */
			drain(&c, &t, cfg.record_size);
			sleep_ms(30);
		}
		ioctl(fd, MYRING_IOC_STOP, NULL);
		settle(fd, &c, &t, cfg.record_size);
		st = get_stats(fd);
		check("overflow-start", !err, "err=%d", err);
		check("overflow-happened", st.lost - before.lost > 0 && t.drops > 0,
		      "lost=%llu drops=%llu", (unsigned long long)(st.lost - before.lost),
		      (unsigned long long)t.drops);
		check("overflow-exact", t.packets + t.lost == st.produced - before.produced &&
		      t.lost == st.lost - before.lost && !st.lost_pending && !t.bad,
		      "read=%llu reported_lost=%llu produced=%llu lost=%llu pending=%llu bad=%llu",
		      (unsigned long long)t.packets, (unsigned long long)t.lost,
		      (unsigned long long)(st.produced - before.produced),
		      (unsigned long long)(st.lost - before.lost),
		      (unsigned long long)st.lost_pending, (unsigned long long)t.bad);
		check("overflow-drop-records", t.drops == st.drop_records - before.drop_records,
		      "seen %llu, kernel wrote %llu", (unsigned long long)t.drops,
		      (unsigned long long)(st.drop_records - before.drop_records));
		printf("MYRING-INFO overflow produced=%llu read=%llu lost=%llu drops=%llu\n",
		       (unsigned long long)(st.produced - before.produced),
		       (unsigned long long)t.packets, (unsigned long long)t.lost,
		       (unsigned long long)t.drops);
	}

	/* --- a hostile consumer index and header cannot hurt the kernel --- */
	cfg = default_config();
	ioctl(fd, MYRING_IOC_CONFIG, &cfg);
	ioctl(fd, MYRING_IOC_START, NULL);
	sleep_ms(50);
	st = get_stats(fd);
	c.hdr->consumer = st.producer + (1ULL << 40);	/* beyond the producer */
	c.hdr->producer = 0xdeadbeefULL;
	c.hdr->ring_size = 0;
	sleep_ms(30);
	{
		struct myring_stats s2 = get_stats(fd);

		c.hdr->consumer = st.consumer - MYRING_ALIGN;	/* backwards */
		sleep_ms(30);
		c.hdr->consumer = st.consumer + 1;		/* unaligned */
		sleep_ms(30);
		st = get_stats(fd);
		check("bad-consumer-ignored", s2.bad_consumer > 0 && st.bad_consumer > s2.bad_consumer &&
		      st.consumer == s2.consumer && st.producer - st.consumer <= info.ring_size,
		      "bad=%llu/%llu cons=%llu/%llu", (unsigned long long)s2.bad_consumer,
		      (unsigned long long)st.bad_consumer, (unsigned long long)s2.consumer,
		      (unsigned long long)st.consumer);
	}
	c.hdr->consumer = st.consumer;
	ioctl(fd, MYRING_IOC_STOP, NULL);
	st = get_stats(fd);
	check("producer-restored", c.hdr->producer == st.producer, "hdr %llx kernel %llx",
	      (unsigned long long)c.hdr->producer, (unsigned long long)st.producer);

	/* scribble over every record header and index while the producer runs */
	cfg = default_config();
	cfg.rate_hz = 20000;
	ioctl(fd, MYRING_IOC_CONFIG, &cfg);
	ioctl(fd, MYRING_IOC_START, NULL);
	{
		struct timespec t0, t1;
		unsigned int seed = 12345;
		uint64_t *words = (uint64_t *)c.ring;
		size_t nwords = c.ring_size / 8, k;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (k = 0; k < nwords; k += 4)
				words[k] = ((uint64_t)rand_r(&seed) << 33) ^ rand_r(&seed);
			c.hdr->consumer = ((uint64_t)rand_r(&seed) << 20) ^ rand_r(&seed);
			c.hdr->producer = rand_r(&seed);
			clock_gettime(CLOCK_MONOTONIC, &t1);
		} while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
	}
	ioctl(fd, MYRING_IOC_STOP, NULL);
	st = get_stats(fd);
	check("scribble-indices-sane", !(st.producer % MYRING_ALIGN) && !(st.consumer % MYRING_ALIGN) &&
	      st.producer - st.consumer <= info.ring_size && st.produced > 0,
	      "producer=%llu consumer=%llu", (unsigned long long)st.producer,
	      (unsigned long long)st.consumer);
	c.hdr->consumer = st.consumer;

	/* netfilter mode registers and unregisters cleanly */
	cfg = default_config();
	cfg.mode = MYRING_MODE_NETFILTER;
	cfg.snaplen = 128;
	err = ioctl_errno(fd, MYRING_IOC_CONFIG, &cfg);
	err = err ? err : ioctl_errno(fd, MYRING_IOC_START, NULL);
	err = err ? err : ioctl_errno(fd, MYRING_IOC_STOP, NULL);
	check("netfilter-start-stop", !err, "err=%d", err);

	munmap(map, sz);
	close(efd);
	close(fd);
	fd = open(DEV, O_RDWR);
	check("reopen-after-close", fd >= 0, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

static int test_unload(void)
{
	struct myring_info info;
	struct myring_hdr *hdr;
	int fd, r, err;
	void *map;

	fd = open(DEV, O_RDWR);
	check("unload-open", fd >= 0, "%s", strerror(errno));
	if (fd < 0)
		return 1;
	ioctl(fd, MYRING_IOC_INFO, &info);
	ioctl(fd, MYRING_IOC_START, NULL);
	r = syscall(SYS_delete_module, "myring", O_NONBLOCK);
	err = errno;
	check("unload-while-open-refused", r < 0 && (err == EBUSY || err == EAGAIN), "r=%d errno=%d", r, err);
	map = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		check("unload-mmap", 0, "%s", strerror(errno));
		return 1;
	}
	close(fd);	/* the mapping alone keeps the file, and the module, alive */
	r = syscall(SYS_delete_module, "myring", O_NONBLOCK);
	err = errno;
	check("unload-while-mapped-refused", r < 0 && (err == EBUSY || err == EAGAIN), "r=%d errno=%d", r, err);
	hdr = map;
	sleep_ms(20);
	check("mapping-still-valid", hdr->magic == MYRING_MAGIC && hdr->producer > 0,
	      "magic %x producer %llu", hdr->magic, (unsigned long long)hdr->producer);
	munmap(map, info.mmap_size);
	r = syscall(SYS_delete_module, "myring", O_NONBLOCK);
	check("unload-after-munmap", r == 0, "errno=%d", errno);
	check("device-gone", access(DEV, F_OK) < 0, "still there");
	return 0;
}

/*
 * The consumer helpers against a fake ring in ordinary memory (runs on any
 * host): a minimal producer following the UAPI rules writes packets of
 * varying sizes, PAD records at the wrap and a DROP record.
 */
struct fake {
	struct myring_hdr *hdr;
	uint8_t *ring;
	uint32_t size;
	uint64_t prod;
};

static int fake_put(struct fake *f, uint16_t type, uint64_t seq, const void *payload, uint32_t len)
{
	uint64_t need = MYRING_REC_SPACE(len), off = f->prod & (f->size - 1);
	uint64_t tail = f->size - off, cons = f->hdr->consumer;
	uint64_t total = need > tail ? tail + need : need;
	struct myring_rec *rec;

	if (f->size - (f->prod - cons) < total)
		return -1;
	if (need > tail) {
		rec = (struct myring_rec *)(f->ring + off);
		memset(rec, 0, sizeof(*rec));
		rec->type = MYRING_REC_PAD;
		rec->len = tail - sizeof(*rec);
		f->prod += tail;
		off = 0;
	}
	rec = (struct myring_rec *)(f->ring + off);
	memset(rec, 0, sizeof(*rec));
	rec->type = type;
	rec->len = len;
	rec->seq = seq;
	memcpy(rec + 1, payload, len);
	f->prod += need;
	/* pairs with the consumer's acquire in myring_consumer__avail() */
	__atomic_store_n(&f->hdr->producer, f->prod, __ATOMIC_RELEASE);
	return 0;
}

static int test_fake(void)
{
	static uint8_t mem[MYRING_HDR_SIZE + 4096] __attribute__((aligned(4096)));
	struct fake f = { (struct myring_hdr *)mem, mem + MYRING_HDR_SIZE, 4096, 0 };
	struct myring_consumer c;
	const struct myring_rec *rec;
	struct myring_drop drop = { 5, 100 };
	uint8_t payload[300];
	uint64_t seq = 0, got = 0, lost = 0, pads_before;
	int round, ok = 1, k;

	f.hdr->magic = MYRING_MAGIC;
	f.hdr->version = MYRING_VERSION;
	f.hdr->hdr_size = MYRING_HDR_SIZE;
	f.hdr->ring_size = f.size;
	check("fake-init", myring_consumer__init(&c, mem) == 0, "init refused the header");
	check("fake-empty", myring_consumer__next(&c) == NULL && !c.corrupt, "records in an empty ring");
	for (round = 0; round < 200; round++) {
		uint32_t len = 60 + (round * 37) % 240;

		memset(payload, round & 0xff, len);
		if (round == 100) {
			fake_put(&f, MYRING_REC_DROP, seq, &drop, sizeof(drop));
			seq += drop.lost;
		}
		if (fake_put(&f, MYRING_REC_PACKET, seq, payload, len) == 0)
			seq++;
		/* read every other round so the ring wraps with records pending */
		if (round % 2)
			continue;
		while ((rec = myring_consumer__next(&c))) {
			if (rec->type == MYRING_REC_DROP) {
				const struct myring_drop *d = (const void *)myring_rec__data(rec);

				ok &= d->first_seq == got + lost && d->lost == 5;
				lost += d->lost;
				continue;
			}
			ok &= rec->type == MYRING_REC_PACKET && rec->seq == got + lost;
			for (k = 0; k < (int)rec->len; k++)
				ok &= myring_rec__data(rec)[k] == myring_rec__data(rec)[0];
			got++;
		}
		myring_consumer__release(&c, c.pos);
	}
	while ((rec = myring_consumer__next(&c)))
		got += rec->type == MYRING_REC_PACKET;
	myring_consumer__release(&c, c.pos);
	check("fake-sequence", ok && got + lost == seq && !c.corrupt && f.prod > 3 * f.size,
	      "ok=%d got=%llu lost=%llu seq=%llu", ok, (unsigned long long)got,
	      (unsigned long long)lost, (unsigned long long)seq);
	check("fake-release", f.hdr->consumer == f.prod, "consumer %llu producer %llu",
	      (unsigned long long)f.hdr->consumer, (unsigned long long)f.prod);
	/* a record claiming more bytes than were published is refused */
	pads_before = c.pos;
	fake_put(&f, MYRING_REC_PACKET, seq, payload, 64);
	((struct myring_rec *)(f.ring + (pads_before & (f.size - 1))))->len = 1 << 20;
	check("fake-corrupt-detected", myring_consumer__next(&c) == NULL && c.corrupt &&
	      c.pos == pads_before, "corrupt=%d", c.corrupt);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "protocol";
	int n = argc > 2 ? atoi(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "protocol"))
		test_protocol();
	else if (!strcmp(mode, "unload"))
		test_unload();
	else if (!strcmp(mode, "fake"))
		test_fake();
	else if (!strcmp(mode, "overflow") && n > 0)
		test_overflow_soak(n);
	else if (!strcmp(mode, "kill") && n > 0)
		test_killed_consumer(n);
	else if (!strcmp(mode, "unload-foreign"))
		test_unload_foreign_mapping();
	else {
		fprintf(stderr, "usage: %s protocol|unload|fake|overflow SECONDS|kill ROUNDS|"
			"unload-foreign\n", argv[0]);
		return 2;
	}
	printf("MYRING-C-DONE %s failures=%d\n", mode, failures);
	return failures ? 1 : 0;
}
