/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User-space side of the myring protocol (myring_uapi.h): a consumer over
 * the mmapped area.  Shared by the static guest test and pyxring's Cython
 * backend, so both walk the ring with the same few lines.
 *
 * Threading: one consumer per ring, no locking; the kernel is the only
 * producer.
 */
#ifndef MYRING_USER_H
#define MYRING_USER_H

#include <stdint.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include "myring_uapi.h"

struct myring_consumer {
	struct myring_hdr *hdr;
	uint8_t *ring;
	uint64_t ring_size;
	uint64_t cached_prod;	/* last producer index loaded */
	uint64_t pos;		/* next record to read (not yet released) */
	int corrupt;		/* a record did not fit where it claimed to be */
};

static inline int myring_consumer__init(struct myring_consumer *c, void *map)
{
	c->hdr = (struct myring_hdr *)map;
	if (c->hdr->magic != MYRING_MAGIC || c->hdr->version != MYRING_VERSION)
		return -1;
	c->ring = (uint8_t *)map + c->hdr->hdr_size;
	c->ring_size = c->hdr->ring_size;
	c->pos = __atomic_load_n(&c->hdr->consumer, __ATOMIC_RELAXED);
	c->cached_prod = c->pos;
	c->corrupt = 0;
	return 0;
}

/* Bytes published and not yet read by this consumer. */
static inline uint64_t myring_consumer__avail(struct myring_consumer *c)
{
	/*
	 * Acquire pairs with the kernel's smp_store_release() of `producer` in
	 * myring_publish(): record bytes below it are visible once we see it.
	 */
	c->cached_prod = __atomic_load_n(&c->hdr->producer, __ATOMIC_ACQUIRE);
	return c->cached_prod - c->pos;
}

/*
 * The next PACKET or DROP record, skipping PAD; NULL when nothing is ready
 * (or the ring is corrupt: c->corrupt is set).  The record stays valid until
 * a release() past it.
 */
static inline const struct myring_rec *myring_consumer__next(struct myring_consumer *c)
{
	const struct myring_rec *rec;
	uint64_t off, space;

	for (;;) {
		if (c->pos == c->cached_prod && !myring_consumer__avail(c))
			return NULL;
		off = c->pos & (c->ring_size - 1);
		rec = (const struct myring_rec *)(c->ring + off);
		space = MYRING_REC_SPACE(rec->len);
		if (space > c->ring_size - off || space > c->cached_prod - c->pos) {
			c->corrupt = 1;
			return NULL;
		}
		c->pos += space;
		if (rec->type != MYRING_REC_PAD)
			return rec;
	}
}

/* Hand ring space up to `pos` back to the kernel. */
static inline void myring_consumer__release(struct myring_consumer *c, uint64_t pos)
{
	/*
	 * Release pairs with the kernel's smp_load_acquire() of `consumer` in
	 * myring_refresh_consumer(): our reads of the records before `pos` are
	 * done before the kernel may overwrite them.
	 */
	__atomic_store_n(&c->hdr->consumer, pos, __ATOMIC_RELEASE);
}

static inline const uint8_t *myring_rec__data(const struct myring_rec *rec)
{
	return (const uint8_t *)(rec + 1);
}

#endif /* MYRING_USER_H */
