// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the guest checks of /dev/myring (see myring_check.h). */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "myring_check.h"

int failures;

void check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("MYRING-CHECK %s ok\n", name);
	} else {
		failures++;
		printf("MYRING-CHECK %s FAIL ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ioctl_errno(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

struct myring_config default_config(void)
{
	struct myring_config c;

	memset(&c, 0, sizeof(c));
	c.mode = MYRING_MODE_SYNTH;
	c.rate_hz = 2000;
	c.record_size = 256;
	c.snaplen = 65535;
	return c;
}

struct myring_stats get_stats(int fd)
{
	struct myring_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(fd, MYRING_IOC_STATS, &st))
		perror("MYRING_IOC_STATS");
	return st;
}

void tally_record(struct tally *t, const struct myring_rec *rec, uint32_t size)
{
	const struct myring_drop *d;
	const struct myring_synth_payload *pl;
	const uint8_t *f = myring_rec__data(rec);

	if (rec->type == MYRING_REC_DROP) {
		d = (const struct myring_drop *)f;
		if (rec->len != sizeof(*d) || d->first_seq != t->next_seq || !d->lost ||
		    rec->seq != d->first_seq)
			t->bad++;
		t->drops++;
		t->lost += d->lost;
		t->next_seq = d->first_seq + d->lost;
		return;
	}
	pl = (const struct myring_synth_payload *)(f + MYRING_SYNTH_HDRLEN);
	if (rec->type != MYRING_REC_PACKET || rec->seq != t->next_seq ||
	    rec->len != size || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17 ||
	    be64toh(pl->seq_be) != rec->seq || be64toh(pl->ts_ns_be) != rec->ts_ns)
		t->bad++;
	t->packets++;
	t->next_seq = rec->seq + 1;
}

uint64_t drain_some(struct myring_consumer *c, struct tally *t, uint32_t size, uint64_t max)
{
	const struct myring_rec *rec;
	uint64_t n = 0;

	while (n < max && (rec = myring_consumer__next(c))) {
		tally_record(t, rec, size);
		n++;
	}
	myring_consumer__release(c, c->pos);
	return n;
}

uint64_t drain(struct myring_consumer *c, struct tally *t, uint32_t size)
{
	return drain_some(c, t, size, UINT64_MAX);
}

void settle(int fd, struct myring_consumer *c, struct tally *t, uint32_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	drain(c, t, size);
	poll(&p, 1, 0);
	drain(c, t, size);
}
