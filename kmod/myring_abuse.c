// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/myring under abuse, in the guest (modes of myring_test):
 *
 *   overflow SECONDS  a consumer slower than the producer for SECONDS: the
 *                     ring overflows the whole time, yet every record is in
 *                     sequence, every gap is announced by exactly one DROP
 *                     record and produced == read + lost at the end; reading
 *                     never stalls (progress in every second).
 *   kill ROUNDS       consumers SIGKILLed while they have the ring mapped
 *                     (busy reading, asleep in poll(), or with the netfilter
 *                     hook registered): the device opens again at once, in
 *                     a fresh state, and nothing stays allocated.
 *   unload-foreign    another process maps the ring (its fd closed): the
 *                     module refuses to unload until that mapping is gone,
 *                     then unloads, while the process still lives.
 *
 * "Nothing stays allocated": the guest kernel has no kmemleak, so memory is
 * compared before and after: vmalloc areas allocated by the module
 * (/proc/vmallocinfo), VmallocUsed, and every slab cache's active objects
 * (/proc/slabinfo, after each cache's per-CPU slabs are flushed through
 * /sys/kernel/slab/<cache>/shrink so the counts are exact).  A leak of one
 * object per round shows as a cache growing by about ROUNDS objects.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "myring_check.h"

/* --- memory snapshots -------------------------------------------------- */

#define MAX_CACHES 512

struct cache_count {
	char name[64];
	long active;
};

struct memsnap {
	long vmalloc_used_kb;
	long module_vmaps;		/* vmalloc areas whose caller is in myring */
	long module_vmap_bytes;
	int ncaches;
	struct cache_count caches[MAX_CACHES];
};

/*
 * Measuring must not allocate what it measures: every file it needs stays
 * open from the first snapshot on, and is read again from offset 0.
 */
static int shrink_fds[MAX_CACHES], nshrink = -1;
static int meminfo_fd = -1, vmallocinfo_fd = -1, slabinfo_fd = -1;
static char snap_buf[1 << 20];

static void open_measuring_files(void)
{
	DIR *d;
	struct dirent *e;
	char path[300];

	nshrink = 0;
	d = opendir("/sys/kernel/slab");
	while (d && (e = readdir(d)) && nshrink < MAX_CACHES) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		shrink_fds[nshrink] = open(path, O_WRONLY | O_CLOEXEC);
		if (shrink_fds[nshrink] >= 0)
			nshrink++;
	}
	if (d)
		closedir(d);
	meminfo_fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	vmallocinfo_fd = open("/proc/vmallocinfo", O_RDONLY | O_CLOEXEC);
	slabinfo_fd = open("/proc/slabinfo", O_RDONLY | O_CLOEXEC);
}

/* The whole of a /proc file, NUL-terminated, in snap_buf. */
static char *read_whole(int fd)
{
	size_t used = 0;
	ssize_t n;

	snap_buf[0] = 0;
	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return snap_buf;
	while (used < sizeof(snap_buf) - 1 &&
	       (n = read(fd, snap_buf + used, sizeof(snap_buf) - 1 - used)) > 0)
		used += n;
	snap_buf[used] = 0;
	return snap_buf;
}

/*
 * Files, sockets and eventfds of a killed process are freed after an RCU
 * grace period: wait for two (membarrier's global command is a
 * synchronize_rcu()) and a little more, so that what is counted is what is
 * still held.  Then every cache's per-CPU slabs go back to its lists
 * (writing 1 to .../shrink), where its free objects are counted.
 */
static void quiesce(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0);
		sleep_ms(200);
	}
	for (i = 0; i < nshrink; i++)
		/* a cache that can't shrink is counted as it is */
		(void)!write(shrink_fds[i], "1", 1);
}

static int take_snapshot(struct memsnap *s)
{
	char caller[256], name[64], *line, *next;
	long size, active;

	memset(s, 0, sizeof(*s));
	if (nshrink < 0)
		open_measuring_files();
	quiesce();
	for (line = read_whole(meminfo_fd); line && *line; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : NULL;
		sscanf(line, "VmallocUsed: %ld kB", &s->vmalloc_used_kb);
	}
	/* "0xstart-0xend SIZE caller+off/len [module] pages=N vmalloc ..." */
	for (line = read_whole(vmallocinfo_fd); line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%*s %ld %255s", &size, caller) == 2 && strstr(line, "myring")) {
			s->module_vmaps++;
			s->module_vmap_bytes += size;
		}
	}
	for (line = read_whole(slabinfo_fd); line && *line && s->ncaches < MAX_CACHES; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld", name, &active) == 2) {
			snprintf(s->caches[s->ncaches].name, sizeof(s->caches[0].name), "%s", name);
			s->caches[s->ncaches++].active = active;
		}
	}
	return s->ncaches ? 0 : -1;
}

/*
 * Verdicts on what `rounds` repetitions of one abuse left behind: no vmalloc
 * area of the module's, VmallocUsed back within less than one ring, and no
 * slab cache grown by half a round's worth of objects or more (the counts
 * are exact once quiesced, so any real leak is a whole object per round).
 */
static void check_no_leak(const char *what, const struct memsnap *before,
			  const struct memsnap *after, int rounds, uint32_t ring_bytes)
{
	char name[96];
	long grew = 0, delta;
	const char *worst = "-";
	int i, j;

	snprintf(name, sizeof(name), "%s-no-module-vmalloc", what);
	check(name, after->module_vmaps == 0, "%ld areas (%ld bytes) of myring still mapped",
	      after->module_vmaps, after->module_vmap_bytes);
	delta = after->vmalloc_used_kb - before->vmalloc_used_kb;
	snprintf(name, sizeof(name), "%s-vmalloc-used-flat", what);
	check(name, delta < (long)(ring_bytes / 1024), "VmallocUsed %ld -> %ld kB after %d rounds",
	      before->vmalloc_used_kb, after->vmalloc_used_kb, rounds);
	for (i = 0; i < after->ncaches; i++) {
		/* freed vmalloc areas wait in a lazy purge list, struct and
		 * all; the areas themselves are counted above */
		if (!strcmp(after->caches[i].name, "vmap_area"))
			continue;
		for (j = 0; j < before->ncaches; j++)
			if (!strcmp(before->caches[j].name, after->caches[i].name))
				break;
		delta = after->caches[i].active - (j < before->ncaches ? before->caches[j].active : 0);
		if (delta > grew) {
			grew = delta;
			worst = after->caches[i].name;
		}
	}
	snprintf(name, sizeof(name), "%s-slab-flat", what);
	check(name, after->ncaches > 20 && grew * 2 < rounds,
	      "%s grew by %ld objects over %d rounds (%d caches read)", worst, grew, rounds,
	      after->ncaches);
	printf("MYRING-INFO leak %s rounds=%d vmalloc_kb=%ld->%ld module_vmaps=%ld "
	       "max_slab_growth=%ld(%s)\n", what, rounds, before->vmalloc_used_kb,
	       after->vmalloc_used_kb, after->module_vmaps, grew, worst);
	fflush(stdout);
}

/* --- a consumer ---------------------------------------------------------- */

struct ring {
	int fd;
	void *map;
	size_t size;
	struct myring_consumer c;
};

static int ring_open(struct ring *r)
{
	struct myring_info info;

	memset(r, 0, sizeof(*r));
	r->fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	if (ioctl(r->fd, MYRING_IOC_INFO, &info) < 0)
		goto err_close;
	r->size = info.mmap_size;
	r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->map == MAP_FAILED)
		goto err_close;
	if (myring_consumer__init(&r->c, r->map) == 0)
		return 0;
	munmap(r->map, r->size);
	errno = EPROTO;
err_close:
	close(r->fd);
	return -errno;
}

static void ring_close(struct ring *r)
{
	munmap(r->map, r->size);
	close(r->fd);
}

static int ring_start(struct ring *r, struct myring_config *cfg)
{
	int err = ioctl_errno(r->fd, MYRING_IOC_CONFIG, cfg);

	return err ? err : ioctl_errno(r->fd, MYRING_IOC_START, NULL);
}

/* --- overflow for a long time ------------------------------------------- */

int test_overflow_soak(int seconds)
{
	struct myring_config cfg = default_config();
	struct myring_stats st;
	struct ring r;
	struct tally t, last;
	uint64_t start, now, window_end, windows = 0, starved = 0, read;
	uint64_t min_read = UINT64_MAX, min_drops = UINT64_MAX, kernel_lost = 0;
	unsigned int seed = 20;
	int err;

	err = ring_open(&r);
	check("soak-open", !err, "%s", strerror(-err));
	if (err)
		return 1;
	/* Far faster than this reader: about 25k records a second at most. */
	cfg.rate_hz = 200000;
	err = ring_start(&r, &cfg);
	check("soak-start", !err, "err=%d", err);
	memset(&t, 0, sizeof(t));
	last = t;
	start = now_ms();
	window_end = start + 1000;
	do {
		/* bursts of varying size so the wrap falls everywhere; now and
		 * then the ring is emptied, and refills from zero */
		read = rand_r(&seed) % 16 ? 1 + (uint64_t)(rand_r(&seed) % 256) : UINT64_MAX;
		drain_some(&r.c, &t, cfg.record_size, read);
		sleep_ms(10);
		now = now_ms();
		if (now >= window_end) {
			/* every second: records arrived and loss was announced */
			st = get_stats(r.fd);
			windows++;
			if (t.packets == last.packets || t.drops == last.drops ||
			    st.lost == kernel_lost)
				starved++;
			if (t.packets - last.packets < min_read)
				min_read = t.packets - last.packets;
			if (t.drops - last.drops < min_drops)
				min_drops = t.drops - last.drops;
			kernel_lost = st.lost;
			last = t;
			/* from now: if the host stopped the guest a while, that was
			 * one long window, not many empty ones */
			window_end = now + 1000;
		}
	} while (now - start < (uint64_t)seconds * 1000);
	ioctl(r.fd, MYRING_IOC_STOP, NULL);
	settle(r.fd, &r.c, &t, cfg.record_size);
	st = get_stats(r.fd);
	check("soak-overflowed-throughout", windows >= (uint64_t)seconds * 9 / 10 && !starved,
	      "%llu of %llu one-second windows without reads or without loss",
	      (unsigned long long)starved, (unsigned long long)windows);
	check("soak-exact", t.packets + t.lost == st.produced && t.lost == st.lost &&
	      !st.lost_pending && !t.bad && !r.c.corrupt && t.next_seq == st.produced,
	      "read=%llu reported_lost=%llu produced=%llu lost=%llu pending=%llu bad=%llu",
	      (unsigned long long)t.packets, (unsigned long long)t.lost,
	      (unsigned long long)st.produced, (unsigned long long)st.lost,
	      (unsigned long long)st.lost_pending, (unsigned long long)t.bad);
	check("soak-drop-records", t.drops == st.drop_records && t.drops >= windows,
	      "seen %llu, kernel wrote %llu", (unsigned long long)t.drops,
	      (unsigned long long)st.drop_records);
	check("soak-consumer-index-trusted", st.bad_consumer == 0 && st.consumer == r.c.pos,
	      "bad_consumer=%llu consumer=%llu pos=%llu", (unsigned long long)st.bad_consumer,
	      (unsigned long long)st.consumer, (unsigned long long)r.c.pos);
	printf("MYRING-INFO overflow-soak seconds=%d produced=%llu read=%llu lost=%llu drops=%llu "
	       "min_read_per_s=%llu min_drops_per_s=%llu\n", seconds,
	       (unsigned long long)st.produced, (unsigned long long)t.packets,
	       (unsigned long long)t.lost, (unsigned long long)t.drops,
	       (unsigned long long)min_read, (unsigned long long)min_drops);
	ring_close(&r);
	return 0;
}

/* --- consumers killed while mapped ------------------------------------- */

enum victim { VICTIM_READING, VICTIM_IN_POLL, VICTIM_NETFILTER, VICTIMS };

/* The child: open, map, register an eventfd, start, say so, consume until killed. */
static void victim_run(enum victim kind, int ready_fd)
{
	struct myring_config cfg = default_config();
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5555),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd p;
	struct tally t;
	struct ring r;
	int efd, s = -1;

	if (ring_open(&r))
		_exit(2);
	efd = eventfd(0, EFD_CLOEXEC);
	if (ioctl(r.fd, MYRING_IOC_SET_EVENTFD, &efd))
		_exit(3);
	if (kind == VICTIM_READING)
		cfg.rate_hz = 100000;
	if (kind == VICTIM_IN_POLL)
		cfg.rate_hz = 1;	/* nothing for a second: asleep in poll() */
	if (kind == VICTIM_NETFILTER) {
		cfg.mode = MYRING_MODE_NETFILTER;
		s = socket(AF_INET, SOCK_DGRAM, 0);
	}
	if (ring_start(&r, &cfg))
		_exit(4);
	if (write(ready_fd, "r", 1) != 1)
		_exit(5);
	memset(&t, 0, sizeof(t));
	p.fd = r.fd;
	p.events = POLLIN;
	for (;;) {
		if (s >= 0)
			sendto(s, "victim", 6, 0, (struct sockaddr *)&to, sizeof(to));
		if (kind == VICTIM_IN_POLL)
			poll(&p, 1, 5000);
		drain_some(&r.c, &t, cfg.record_size, 64);
	}
}

/* A fresh open after the kill: the state is new and a capture works. */
static int reopen_works(char *why, size_t len)
{
	struct myring_config cfg = default_config();
	struct myring_stats st;
	struct pollfd p;
	struct tally t;
	struct ring r;
	int err = ring_open(&r), n;

	if (err) {
		snprintf(why, len, "open: %s", strerror(-err));
		return 0;
	}
	st = get_stats(r.fd);
	if (st.produced || st.running || r.c.pos) {
		snprintf(why, len, "stale state: produced=%llu running=%u consumer=%llu",
			 (unsigned long long)st.produced, st.running, (unsigned long long)r.c.pos);
		ring_close(&r);
		return 0;
	}
	memset(&t, 0, sizeof(t));
	err = ring_start(&r, &cfg);
	p.fd = r.fd;
	p.events = POLLIN;
	n = err ? 0 : poll(&p, 1, 3000);
	drain(&r.c, &t, cfg.record_size);
	ioctl(r.fd, MYRING_IOC_STOP, NULL);
	ring_close(&r);
	if (err || n != 1 || !t.packets || t.bad || t.drops) {
		snprintf(why, len, "capture after reopen: err=%d poll=%d packets=%llu bad=%llu",
			 err, n, (unsigned long long)t.packets, (unsigned long long)t.bad);
		return 0;
	}
	return 1;
}

static int kill_one(enum victim kind, int delay_ms, char *why, size_t len)
{
	int pfd[2], status;
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC))
		return 0;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		victim_run(kind, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		snprintf(why, len, "victim %d failed to start (status %d)", kind, status);
		close(pfd[0]);
		return 0;
	}
	close(pfd[0]);
	sleep_ms(delay_ms);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		snprintf(why, len, "victim %d ended with status %d, not SIGKILL", kind, status);
		return 0;
	}
	/* exit_mm() and exit_files() ran before the parent could reap it */
	return reopen_works(why, len);
}

int test_killed_consumer(int rounds)
{
	struct memsnap *before = calloc(2, sizeof(*before)), *after = before + 1;
	struct myring_info info;
	char why[200] = "";
	int i, ok = 0, fd;

	fd = open(DEV, O_RDWR);
	ioctl(fd, MYRING_IOC_INFO, &info);
	close(fd);
	/* a warm-up round first: the first fork, socket and eventfd of the
	 * guest allocate caches that later rounds reuse */
	kill_one(VICTIM_NETFILTER, 5, why, sizeof(why));
	kill_one(VICTIM_READING, 5, why, sizeof(why));
	take_snapshot(before);
	for (i = 0; i < rounds; i++) {
		if (kill_one(i % VICTIMS, 1 + (i * 7) % 40, why, sizeof(why)))
			ok++;
		else
			printf("MYRING-INFO kill round %d: %s\n", i, why);
	}
	take_snapshot(after);
	check("killed-consumer-device-reusable", ok == rounds, "%d of %d rounds: %s", ok, rounds, why);
	check_no_leak("killed-consumer", before, after, rounds, info.ring_size);
	free(before);
	return 0;
}

/* --- unload while another process has the ring mapped ------------------- */

int test_unload_foreign_mapping(void)
{
	int to_child[2], to_parent[2], status, r, err, fd;
	pid_t pid;
	char c;

	if (pipe(to_child) || pipe(to_parent))
		return 1;
	pid = fork();
	if (pid == 0) {
		struct ring ring;

		if (ring_open(&ring) || ioctl(ring.fd, MYRING_IOC_START, NULL))
			_exit(2);
		close(ring.fd);		/* only the mapping holds the device now */
		if (write(to_parent[1], "m", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		munmap(ring.map, ring.size);
		if (write(to_parent[1], "u", 1) != 1)
			_exit(4);
		pause();		/* alive, without the mapping, until killed */
		_exit(0);
	}
	if (read(to_parent[0], &c, 1) != 1) {
		check("unload-foreign-setup", 0, "the mapping process did not start");
		return 1;
	}
	r = syscall(SYS_delete_module, "myring", O_NONBLOCK);
	err = errno;
	check("unload-foreign-mapped-refused", r < 0 && (err == EBUSY || err == EAGAIN),
	      "r=%d errno=%d", r, err);
	fd = open(DEV, O_RDWR);
	err = errno;
	check("unload-foreign-device-busy", fd < 0 && err == EBUSY, "fd=%d errno=%d", fd, err);
	if (fd >= 0)
		close(fd);
	if (write(to_child[1], "u", 1) != 1 || read(to_parent[0], &c, 1) != 1)
		check("unload-foreign-munmap", 0, "the mapping process did not unmap");
	r = syscall(SYS_delete_module, "myring", O_NONBLOCK);
	err = errno;
	check("unload-foreign-after-munmap", r == 0, "errno=%d (the process still lives)", err);
	check("unload-foreign-device-gone", access(DEV, F_OK) < 0, "still there");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}
