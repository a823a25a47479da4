/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the guest checks of /dev/myring share: the one-line verdicts the
 * host reads ("MYRING-CHECK <name> ok|FAIL <why>"), the ioctl wrappers, and
 * the sequence bookkeeping of a consumer draining synthetic records.
 * Used by myring_test.c (protocol, unload, fake ring) and myring_abuse.c
 * (sustained overflow, killed consumers, unload under a foreign mapping).
 */
#ifndef MYRING_CHECK_H
#define MYRING_CHECK_H

#include <stdint.h>
#include "myring_user.h"

#define DEV "/dev/myring"

extern int failures;

void check(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sleep_ms(int ms);
uint64_t now_ms(void);
int ioctl_errno(int fd, unsigned long cmd, void *arg);
struct myring_config default_config(void);
struct myring_stats get_stats(int fd);

/* Sequence bookkeeping while draining: packets must be in order, gaps only
 * where a DROP record says so. */
struct tally {
	uint64_t next_seq;
	uint64_t packets;
	uint64_t lost;
	uint64_t drops;
	uint64_t bad;		/* out-of-sequence or malformed records */
};

void tally_record(struct tally *t, const struct myring_rec *rec, uint32_t size);
/* Read everything published and release it; the number of records read. */
uint64_t drain(struct myring_consumer *c, struct tally *t, uint32_t size);
/* Read at most `max` records, then release them. */
uint64_t drain_some(struct myring_consumer *c, struct tally *t, uint32_t size, uint64_t max);
/* After STOP: read what is left, let poll() write a DROP still owed, read it. */
void settle(int fd, struct myring_consumer *c, struct tally *t, uint32_t size);

/* Guest modes living in myring_abuse.c */
int test_overflow_soak(int seconds);
int test_killed_consumer(int rounds);
int test_unload_foreign_mapping(void);

#endif /* MYRING_CHECK_H */
