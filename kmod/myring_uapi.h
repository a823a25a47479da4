/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * myring: a shared-memory record ring between a kernel producer and one
 * user-space consumer, exposed as the misc device /dev/myring.
 *
 * This header is the single source of truth for the ABI: the module, the
 * static guest test and pyxring's Cython backend all declare from it.
 *
 * Memory layout (one MAP_SHARED mapping, PROT_READ|PROT_WRITE, offset 0,
 * length myring_info.mmap_size exactly; anything else is EINVAL):
 *
 *   [0, MYRING_HDR_SIZE)                 struct myring_hdr (one page)
 *   [MYRING_HDR_SIZE, +ring_size)        the data ring, ring_size a power of two
 *
 * Indices.  `producer` and `consumer` are free-running 64-bit byte positions
 * in the data ring; the byte at position p lives at ring[p & (ring_size - 1)].
 * Fill level = producer - consumer, always <= ring_size.  Both are multiples
 * of MYRING_ALIGN.
 *
 * Records.  Each record starts with struct myring_rec and occupies
 * MYRING_REC_SPACE(rec.len) bytes.  A record never straddles the end of the
 * ring: when it does not fit in the tail, the producer first writes a
 * MYRING_REC_PAD record covering the tail (a PAD header always fits, because
 * every position is a multiple of MYRING_ALIGN == sizeof(struct myring_rec)).
 *
 * Protocol (single producer = the kernel, single consumer = user space):
 *   kernel:  write the record bytes, then smp_store_release(&hdr->producer, p).
 *   user:    p = load_acquire(&hdr->producer); read records in [consumer, p);
 *            then store_release(&hdr->consumer, c) once it no longer needs
 *            their bytes.
 *   kernel:  c = smp_load_acquire(&hdr->consumer) before reusing ring space,
 *            so the consumer's reads of that space happen before it is
 *            overwritten.
 * The kernel trusts only its private copies of both indices.  A consumer
 * value outside [last accepted consumer, producer] or not MYRING_ALIGN
 * aligned is ignored and counted in `bad_consumer`; whatever user space
 * writes to this page can only lose its own data.
 *
 * Overflow.  The producer never overwrites unread records.  When a record
 * does not fit it is counted as lost; as soon as there is room again the
 * producer writes one MYRING_REC_DROP record (payload struct myring_drop)
 * before any further packet, carrying how many records were lost and the
 * sequence number of the first one.  Every record the producer generates
 * gets the next sequence number, lost or not, so
 *     produced == packets read + sum(drop.lost) (+ stats.lost_pending)
 * holds exactly.  After MYRING_IOC_STOP, a DROP still pending for lack of
 * room is written by the next poll() on the device once there is room.
 *
 * Notification.  poll()/select() on the fd report POLLIN while the ring is
 * not empty.  An eventfd registered with MYRING_IOC_SET_EVENTFD (and the
 * fd's wait queue) is signalled when the fill level reaches wm_high; it is
 * re-armed only after the fill level falls below wm_low (hysteresis).  A
 * final signal is sent when the producer stops (flags gets MYRING_F_STOPPED).
 */
#ifndef _UAPI_MYRING_H
#define _UAPI_MYRING_H

#include <linux/types.h>

#define MYRING_MAGIC		0x4d59524eU	/* "MYRN" */
#define MYRING_VERSION		1
#define MYRING_HDR_SIZE		4096U
#define MYRING_ALIGN		32U
#define MYRING_CACHELINE	64U

/* header.flags (written by the kernel only) */
#define MYRING_F_RUNNING	0x1U
#define MYRING_F_STOPPED	0x2U	/* the producer stopped after running */

struct myring_hdr {
	/* line 0: constant after open */
	__u32 magic;
	__u32 version;
	__u32 hdr_size;		/* MYRING_HDR_SIZE: the ring starts here */
	__u32 ring_size;	/* bytes, a power of two */
	__u32 flags;		/* MYRING_F_* */
	__u32 rec_align;	/* MYRING_ALIGN */
	__u8  pad0[40];
	/* line 1: written by the kernel (release), read by user (acquire) */
	__u64 producer;
	__u8  pad1[56];
	/* line 2: written by user (release), read by the kernel (acquire) */
	__u64 consumer;
	__u8  pad2[56];
	/* lines 3-4: counters mirrored by the kernel, informational only */
	__u64 produced;		/* records generated (written + lost) */
	__u64 lost;		/* records that found the ring full */
	__u64 lost_pending;	/* lost records not yet reported by a DROP */
	__u64 drop_records;	/* DROP records written */
	__u64 bytes;		/* ring bytes published (records + padding) */
	__u64 wm_signals;	/* high watermark crossings signalled */
	__u64 bad_consumer;	/* rejected consumer index updates */
	__u64 pad3;
};

/* record types */
#define MYRING_REC_PACKET	1	/* payload: a link-layer (Ethernet) frame */
#define MYRING_REC_DROP		2	/* payload: struct myring_drop */
#define MYRING_REC_PAD		3	/* skip to the start of the ring */

/* record flags */
#define MYRING_RF_TRUNCATED	0x1	/* len < wirelen */

struct myring_rec {
	__u32 len;		/* payload bytes following this header */
	__u16 type;		/* MYRING_REC_* */
	__u16 flags;		/* MYRING_RF_* */
	__u64 seq;		/* sequence number (DROP: first lost seq) */
	__u64 ts_ns;		/* CLOCK_REALTIME nanoseconds */
	__u32 wirelen;		/* original frame length (PACKET) */
	__u32 ifindex;		/* receiving interface, 0 for synthetic */
};

#define MYRING_REC_SPACE(len) \
	(((__u64)sizeof(struct myring_rec) + (len) + MYRING_ALIGN - 1) & ~(__u64)(MYRING_ALIGN - 1))

struct myring_drop {
	__u64 lost;		/* consecutive records lost */
	__u64 first_seq;	/* sequence number of the first lost record */
};

/* producer modes */
#define MYRING_MODE_SYNTH	0	/* hrtimer writing Ethernet/IPv4/UDP frames */
#define MYRING_MODE_NETFILTER	1	/* copy IPv4 packets at NF_INET_PRE_ROUTING */

/* Synthetic frames: 14 Ethernet + 20 IPv4 + 8 UDP, then this payload. */
#define MYRING_SYNTH_HDRLEN	42U
#define MYRING_SYNTH_MIN	(MYRING_SYNTH_HDRLEN + 16U)
#define MYRING_SYNTH_MAX	9000U
#define MYRING_SYNTH_DPORT	9999
#define MYRING_RATE_MAX		1000000U

struct myring_synth_payload {	/* at offset MYRING_SYNTH_HDRLEN, big-endian */
	__u64 seq_be;		/* the record's sequence number */
	__u64 ts_ns_be;		/* its timestamp */
};

struct myring_config {
	__u32 mode;		/* MYRING_MODE_* */
	__u32 rate_hz;		/* synthetic: records per second, 1..MYRING_RATE_MAX */
	__u32 record_size;	/* synthetic: frame bytes, MYRING_SYNTH_MIN..MAX */
	__u32 snaplen;		/* netfilter: bytes copied per packet, >= 64 */
	__u32 wm_high;		/* bytes; 0 = ring_size / 2 */
	__u32 wm_low;		/* bytes, < wm_high; 0 = wm_high / 2 */
	__u32 flags;		/* must be 0 */
	__u32 pad;		/* must be 0 */
};

struct myring_info {
	__u32 version;
	__u32 hdr_size;
	__u32 ring_size;
	__u32 pad;
	__u64 mmap_size;	/* hdr_size + ring_size: the only accepted mmap length */
};

struct myring_stats {
	__u64 produced;
	__u64 lost;
	__u64 lost_pending;
	__u64 drop_records;
	__u64 bytes;
	__u64 wm_signals;
	__u64 bad_consumer;
	__u64 producer;		/* the kernel's trusted indices */
	__u64 consumer;
	__u32 running;
	__u32 mode;
};

/* The ioctl numbers use _IOR/_IOW: include <sys/ioctl.h> (user space) or
 * <linux/ioctl.h> before this header; it includes only <linux/types.h>. */
#define MYRING_IOC_MAGIC	0xB7
#define MYRING_IOC_INFO		_IOR(MYRING_IOC_MAGIC, 1, struct myring_info)
#define MYRING_IOC_CONFIG	_IOW(MYRING_IOC_MAGIC, 2, struct myring_config)
#define MYRING_IOC_SET_EVENTFD	_IOW(MYRING_IOC_MAGIC, 3, __s32)	/* -1 clears */
#define MYRING_IOC_START	_IO(MYRING_IOC_MAGIC, 4)
#define MYRING_IOC_STOP		_IO(MYRING_IOC_MAGIC, 5)
#define MYRING_IOC_STATS	_IOR(MYRING_IOC_MAGIC, 6, struct myring_stats)

#endif /* _UAPI_MYRING_H */
