// SPDX-License-Identifier: GPL-2.0
/*
 * myring: a kernel-to-user record ring on a misc device.
 *
 * One opener at a time mmaps a vmalloc_user() area (a header page and a
 * power-of-two data ring, layout and protocol in myring_uapi.h) and consumes
 * records that a producer writes: either a synthetic hrtimer source of
 * Ethernet/IPv4/UDP frames carrying their sequence number, or a netfilter
 * hook copying received IPv4 packets.
 *
 * Trust: user space can write anything to the shared pages.  The kernel
 * keeps private copies of both indices and of every setting; the only value
 * it reads back from the mapping is the consumer index, which it validates
 * (myring_refresh_consumer) before using it to compute free space.
 *
 * Locking: `lock` (a BH spinlock) serialises the producers (hrtimer softirq,
 * netfilter hook, poll's DROP flush) and covers the ring state and the
 * eventfd pointer.  `ctl` (a mutex) serialises configuration, start and
 * stop, which sleep (hrtimer_cancel, nf_unregister_net_hook).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/math64.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/poll.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/udp.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <net/checksum.h>
#include <net/net_namespace.h>
#include <net/ip.h>

#include "myring_uapi.h"

/* --- shims for kernel APIs that changed after 6.1 --- */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define myring_eventfd_signal(ctx) eventfd_signal(ctx)
#else
#define myring_eventfd_signal(ctx) eventfd_signal(ctx, 1)
#endif

static void myring_timer_setup(struct hrtimer *t,
			       enum hrtimer_restart (*fn)(struct hrtimer *),
			       clockid_t clock, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(t, fn, clock, mode);
#else
	hrtimer_init(t, clock, mode);
	t->function = fn;
#endif
}
/*
 * class_create() lost its owner argument in 6.4; a misc device needs no
 * class of its own, so there is nothing to shim for it here.
 */

static unsigned int ring_kb = 1024;
module_param(ring_kb, uint, 0444);
MODULE_PARM_DESC(ring_kb, "data ring size in KiB, a power of two (64..65536)");
static unsigned int rate_hz = 2000;
module_param(rate_hz, uint, 0444);
MODULE_PARM_DESC(rate_hz, "default synthetic record rate (records/s)");
static unsigned int record_size = 256;
module_param(record_size, uint, 0444);
MODULE_PARM_DESC(record_size, "default synthetic frame size (bytes)");

/* Never tick faster than this; faster rates write several records a tick. */
#define MYRING_MIN_PERIOD_NS	(250 * NSEC_PER_USEC)
/* Bound the work of one tick (a late timer catches up over several). */
#define MYRING_MAX_PER_TICK	512

struct myring_dev {
	unsigned long busy;		/* bit 0: opened */
	struct mutex ctl;
	spinlock_t lock;
	wait_queue_head_t wq;

	/* the shared area */
	void *area;
	struct myring_hdr *hdr;
	u8 *ring;
	u32 ring_size;
	u64 mmap_size;

	/* trusted ring state (lock) */
	u64 prod;
	u64 cons;
	u64 seq;
	u64 produced, lost, lost_pending, first_lost_seq;
	u64 drop_records, bytes, wm_signals, bad_consumer;
	bool armed;			/* the high watermark may signal */
	bool running;
	bool stopped;
	struct eventfd_ctx *efd;

	/* settings (ctl; read by the producers while running) */
	struct myring_config cfg;

	/* synthetic producer */
	struct hrtimer timer;
	ktime_t period;
	ktime_t started;
	u64 generated;			/* records generated since START */
	u64 last_ts;			/* timestamp of the last synthetic record */
	u8 frame_tmpl[MYRING_SYNTH_HDRLEN];

	/* netfilter producer */
	struct nf_hook_ops nfops;
	bool nf_registered;
};

static struct myring_dev mydev;

/* --- ring helpers (all under dev->lock) --- */

static void myring_refresh_consumer(struct myring_dev *dev)
{
	/*
	 * Acquire pairs with the consumer's store-release of `consumer`: its
	 * reads of the records before that position are complete before we
	 * reuse the space.
	 */
	u64 c = smp_load_acquire(&dev->hdr->consumer);

	if (c == dev->cons)
		return;
	/* Accept only forward moves that stay within what was published. */
	if (c - dev->cons > dev->prod - dev->cons || (c & (MYRING_ALIGN - 1))) {
		dev->bad_consumer++;
		return;
	}
	dev->cons = c;
	/*
	 * The fill level only falls when the consumer moves, so this is where
	 * the low watermark re-arms the high one (checking only after a burst
	 * of writes could miss the dip below wm_low).
	 */
	if (!dev->armed && dev->prod - c < dev->cfg.wm_low)
		dev->armed = true;
}

static u64 myring_fill(const struct myring_dev *dev)
{
	return dev->prod - dev->cons;
}

/*
 * Reserve room for a record with `len` payload bytes at dev->prod, writing a
 * PAD record over the tail first if the record would straddle the end.
 * Returns the record header (not yet published) or NULL when full.
 */
static struct myring_rec *myring_reserve(struct myring_dev *dev, u32 len)
{
	u64 need = MYRING_REC_SPACE(len);
	u32 off = dev->prod & (dev->ring_size - 1);
	u32 tail = dev->ring_size - off;
	u64 total = need > tail ? tail + need : need;
	struct myring_rec *rec;

	if (need > dev->ring_size / 2)
		return NULL;
	if (dev->ring_size - myring_fill(dev) < total) {
		myring_refresh_consumer(dev);
		if (dev->ring_size - myring_fill(dev) < total)
			return NULL;
	}
	if (need > tail) {
		rec = (struct myring_rec *)(dev->ring + off);
		memset(rec, 0, sizeof(*rec));
		rec->len = tail - sizeof(*rec);
		rec->type = MYRING_REC_PAD;
		dev->prod += tail;
		dev->bytes += tail;
		off = 0;
	}
	rec = (struct myring_rec *)(dev->ring + off);
	rec->len = len;
	rec->flags = 0;
	rec->wirelen = len;
	rec->ifindex = 0;
	return rec;
}

/*
 * Advance past a record reserved for `len` payload bytes.  The length comes
 * from the caller, never from the record: user space can rewrite the shared
 * page at any time, and a producer index derived from it could make the
 * next write run past the end of the ring.
 */
static void myring_commit(struct myring_dev *dev, u32 len)
{
	u64 space = MYRING_REC_SPACE(len);

	dev->prod += space;
	dev->bytes += space;
}

/* Write the pending DROP record if there is room; true if none is pending. */
static bool myring_flush_drop(struct myring_dev *dev)
{
	struct myring_rec *rec;
	struct myring_drop *drop;

	if (!dev->lost_pending)
		return true;
	rec = myring_reserve(dev, sizeof(*drop));
	if (!rec)
		return false;
	rec->type = MYRING_REC_DROP;
	rec->seq = dev->first_lost_seq;
	rec->ts_ns = ktime_get_real_ns();
	drop = (struct myring_drop *)(rec + 1);
	drop->lost = dev->lost_pending;
	drop->first_seq = dev->first_lost_seq;
	myring_commit(dev, sizeof(*drop));
	dev->drop_records++;
	dev->lost_pending = 0;
	return true;
}

/*
 * Start a packet record: a sequence number is spent whether or not it fits,
 * so loss is exact.  NULL means the record is lost (already counted).
 */
static struct myring_rec *myring_begin_packet(struct myring_dev *dev, u32 len, u64 ts, u64 *seqp)
{
	struct myring_rec *rec = NULL;
	u64 seq = dev->seq++;

	*seqp = seq;
	dev->produced++;
	/* A pending DROP goes first, so records stay in sequence order. */
	if (myring_flush_drop(dev))
		rec = myring_reserve(dev, len);
	if (!rec) {
		if (!dev->lost_pending)
			dev->first_lost_seq = seq;
		dev->lost_pending++;
		dev->lost++;
		return NULL;
	}
	rec->type = MYRING_REC_PACKET;
	rec->seq = seq;
	rec->ts_ns = ts;
	return rec;
}

static void myring_signal(struct myring_dev *dev)
{
	if (dev->efd)
		myring_eventfd_signal(dev->efd);
	wake_up_interruptible(&dev->wq);
}

/* Publish what was written and apply the watermark hysteresis. */
static void myring_publish(struct myring_dev *dev)
{
	struct myring_hdr *hdr = dev->hdr;
	u64 fill;

	/*
	 * Release pairs with the consumer's load-acquire of `producer`: the
	 * record bytes written above are visible before the new index.
	 */
	smp_store_release(&hdr->producer, dev->prod);

	WRITE_ONCE(hdr->produced, dev->produced);
	WRITE_ONCE(hdr->lost, dev->lost);
	WRITE_ONCE(hdr->lost_pending, dev->lost_pending);
	WRITE_ONCE(hdr->drop_records, dev->drop_records);
	WRITE_ONCE(hdr->bytes, dev->bytes);
	WRITE_ONCE(hdr->wm_signals, dev->wm_signals);
	WRITE_ONCE(hdr->bad_consumer, dev->bad_consumer);

	myring_refresh_consumer(dev);
	fill = myring_fill(dev);
	if (dev->armed && fill >= dev->cfg.wm_high) {
		dev->armed = false;
		dev->wm_signals++;
		WRITE_ONCE(hdr->wm_signals, dev->wm_signals);
		myring_signal(dev);
	}
}

/* --- synthetic producer --- */

static void myring_build_template(struct myring_dev *dev)
{
	u8 *f = dev->frame_tmpl;
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *iph = (struct iphdr *)(f + ETH_HLEN);
	struct udphdr *udph = (struct udphdr *)(f + ETH_HLEN + sizeof(*iph));
	u32 size = dev->cfg.record_size;

	static const u8 dst[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const u8 src[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };

	memset(f, 0, sizeof(dev->frame_tmpl));
	memcpy(eth->h_dest, dst, ETH_ALEN);
	memcpy(eth->h_source, src, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	iph->version = 4;
	iph->ihl = 5;
	iph->tot_len = htons(size - ETH_HLEN);
	iph->frag_off = htons(IP_DF);
	iph->ttl = 64;
	iph->protocol = IPPROTO_UDP;
	iph->saddr = htonl(0x0a000001);	/* 10.0.0.1 */
	iph->daddr = htonl(0x0a000002);	/* 10.0.0.2 */
	iph->check = ip_fast_csum((u8 *)iph, iph->ihl);
	udph->source = htons(MYRING_SYNTH_DPORT - 1);
	udph->dest = htons(MYRING_SYNTH_DPORT);
	udph->len = htons(size - ETH_HLEN - sizeof(*iph));
	udph->check = 0;		/* optional for IPv4 */
}

static void myring_write_synth(struct myring_dev *dev, u64 ts)
{
	u32 size = dev->cfg.record_size;
	struct myring_synth_payload *pl;
	struct myring_rec *rec;
	u8 *frame;
	u64 seq;

	rec = myring_begin_packet(dev, size, ts, &seq);
	if (!rec)
		return;
	frame = (u8 *)(rec + 1);
	memcpy(frame, dev->frame_tmpl, MYRING_SYNTH_HDRLEN);
	pl = (struct myring_synth_payload *)(frame + MYRING_SYNTH_HDRLEN);
	pl->seq_be = cpu_to_be64(seq);
	pl->ts_ns_be = cpu_to_be64(ts);
	memset(pl + 1, 0xa5, size - MYRING_SYNTH_HDRLEN - sizeof(*pl));
	myring_commit(dev, size);
}

static enum hrtimer_restart myring_tick(struct hrtimer *t)
{
	struct myring_dev *dev = container_of(t, struct myring_dev, timer);
	u64 elapsed = ktime_to_ns(ktime_sub(ktime_get(), dev->started));
	u64 due = mul_u64_u32_div(elapsed, dev->cfg.rate_hz, NSEC_PER_SEC) + 1;
	u64 n = due > dev->generated ? due - dev->generated : 0;
	u64 gap = NSEC_PER_SEC / dev->cfg.rate_hz;
	u64 ts = ktime_get_real_ns();

	if (n > MYRING_MAX_PER_TICK)
		n = MYRING_MAX_PER_TICK;
	/* Spread a tick's records over the time they were due, oldest first. */
	ts -= n ? (n - 1) * gap : 0;
	/* ... but never before the previous tick's last record. */
	if (ts <= dev->last_ts)
		ts = dev->last_ts + 1;
	spin_lock_bh(&dev->lock);
	myring_refresh_consumer(dev);
	dev->generated += n;
	for (; n; n--, ts += gap) {
		myring_write_synth(dev, ts);
		dev->last_ts = ts;
	}
	myring_publish(dev);
	spin_unlock_bh(&dev->lock);

	hrtimer_forward_now(t, dev->period);
	return HRTIMER_RESTART;
}

/* --- netfilter producer --- */

static unsigned int myring_nf_hook(void *priv, struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	struct myring_dev *dev = priv;
	unsigned int mac_len = 0, wirelen, caplen;
	struct myring_rec *rec;
	u64 seq;
	u8 *dst;

	if (skb_mac_header_was_set(skb) && skb_mac_offset(skb) < 0)
		mac_len = min_t(unsigned int, -skb_mac_offset(skb), 64);
	wirelen = mac_len + skb->len;
	caplen = min3(wirelen, dev->cfg.snaplen, dev->ring_size / 4);

	spin_lock_bh(&dev->lock);
	myring_refresh_consumer(dev);
	rec = myring_begin_packet(dev, caplen, ktime_get_real_ns(), &seq);
	if (rec) {
		dst = (u8 *)(rec + 1);
		/* The MAC header sits in the linear area just before data. */
		memcpy(dst, skb->data - mac_len, min(mac_len, caplen));
		if (caplen > mac_len && skb_copy_bits(skb, 0, dst + mac_len, caplen - mac_len))
			memset(dst + mac_len, 0, caplen - mac_len);
		rec->wirelen = wirelen;
		rec->ifindex = state->in ? state->in->ifindex : 0;
		rec->flags = caplen < wirelen ? MYRING_RF_TRUNCATED : 0;
		myring_commit(dev, caplen);
	}
	myring_publish(dev);
	spin_unlock_bh(&dev->lock);
	return NF_ACCEPT;
}

/* --- control (dev->ctl held) --- */

static void myring_set_flags(struct myring_dev *dev)
{
	WRITE_ONCE(dev->hdr->flags, (dev->running ? MYRING_F_RUNNING : 0) |
				     (dev->stopped ? MYRING_F_STOPPED : 0));
}

static int myring_check_config(const struct myring_dev *dev, struct myring_config *c)
{
	if (c->flags || c->pad)
		return -EINVAL;
	if (c->mode != MYRING_MODE_SYNTH && c->mode != MYRING_MODE_NETFILTER)
		return -EINVAL;
	if (c->rate_hz < 1 || c->rate_hz > MYRING_RATE_MAX)
		return -EINVAL;
	if (c->record_size < MYRING_SYNTH_MIN || c->record_size > MYRING_SYNTH_MAX ||
	    c->record_size > dev->ring_size / 4)
		return -EINVAL;
	if (c->snaplen < 64 || c->snaplen > 65535)
		return -EINVAL;
	if (!c->wm_high)
		c->wm_high = dev->ring_size / 2;
	if (!c->wm_low)
		c->wm_low = c->wm_high / 2;
	if (c->wm_high > dev->ring_size || c->wm_low >= c->wm_high)
		return -EINVAL;
	return 0;
}

static int myring_start(struct myring_dev *dev)
{
	int err;

	if (dev->running)
		return -EBUSY;
	spin_lock_bh(&dev->lock);
	dev->armed = true;
	dev->stopped = false;
	spin_unlock_bh(&dev->lock);

	if (dev->cfg.mode == MYRING_MODE_NETFILTER) {
		dev->nfops.hook = myring_nf_hook;
		dev->nfops.priv = dev;
		dev->nfops.pf = NFPROTO_IPV4;
		dev->nfops.hooknum = NF_INET_PRE_ROUTING;
		dev->nfops.priority = NF_IP_PRI_FIRST;
		err = nf_register_net_hook(&init_net, &dev->nfops);
		if (err)
			return err;
		dev->nf_registered = true;
	} else {
		myring_build_template(dev);
		dev->period = ns_to_ktime(max_t(u64, NSEC_PER_SEC / dev->cfg.rate_hz,
						 MYRING_MIN_PERIOD_NS));
		dev->generated = 0;
		dev->started = ktime_get();
		hrtimer_start(&dev->timer, dev->period, HRTIMER_MODE_REL_SOFT);
	}
	dev->running = true;
	myring_set_flags(dev);
	return 0;
}

static void myring_stop(struct myring_dev *dev)
{
	if (!dev->running)
		return;
	if (dev->nf_registered) {
		/* Returns after every hook invocation in flight has finished. */
		nf_unregister_net_hook(&init_net, &dev->nfops);
		dev->nf_registered = false;
	} else {
		hrtimer_cancel(&dev->timer);
	}
	dev->running = false;
	dev->stopped = true;
	myring_set_flags(dev);

	spin_lock_bh(&dev->lock);
	myring_flush_drop(dev);
	myring_publish(dev);
	/* The final signal: the consumer drains and sees MYRING_F_STOPPED. */
	myring_signal(dev);
	spin_unlock_bh(&dev->lock);
}

static int myring_set_eventfd(struct myring_dev *dev, int fd)
{
	struct eventfd_ctx *ctx = NULL, *old;

	if (fd < -1)
		return -EINVAL;
	if (fd >= 0) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return -EINVAL;
	}
	spin_lock_bh(&dev->lock);
	old = dev->efd;
	dev->efd = ctx;
	spin_unlock_bh(&dev->lock);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static void myring_get_stats(struct myring_dev *dev, struct myring_stats *st)
{
	memset(st, 0, sizeof(*st));
	spin_lock_bh(&dev->lock);
	myring_refresh_consumer(dev);
	st->produced = dev->produced;
	st->lost = dev->lost;
	st->lost_pending = dev->lost_pending;
	st->drop_records = dev->drop_records;
	st->bytes = dev->bytes;
	st->wm_signals = dev->wm_signals;
	st->bad_consumer = dev->bad_consumer;
	st->producer = dev->prod;
	st->consumer = dev->cons;
	spin_unlock_bh(&dev->lock);
	st->running = dev->running;
	st->mode = dev->cfg.mode;
}

static long myring_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct myring_dev *dev = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct myring_config cfg;
	struct myring_stats st;
	struct myring_info info;
	int fd, err = 0;

	mutex_lock(&dev->ctl);
	switch (cmd) {
	case MYRING_IOC_INFO:
		memset(&info, 0, sizeof(info));
		info.version = MYRING_VERSION;
		info.hdr_size = MYRING_HDR_SIZE;
		info.ring_size = dev->ring_size;
		info.mmap_size = dev->mmap_size;
		if (copy_to_user(uarg, &info, sizeof(info)))
			err = -EFAULT;
		break;
	case MYRING_IOC_CONFIG:
		if (copy_from_user(&cfg, uarg, sizeof(cfg))) {
			err = -EFAULT;
			break;
		}
		err = myring_check_config(dev, &cfg);
		if (!err && dev->running)
			err = -EBUSY;
		if (!err) {
			spin_lock_bh(&dev->lock);
			dev->cfg = cfg;
			spin_unlock_bh(&dev->lock);
		}
		break;
	case MYRING_IOC_SET_EVENTFD:
		if (get_user(fd, (int __user *)uarg))
			err = -EFAULT;
		else
			err = myring_set_eventfd(dev, fd);
		break;
	case MYRING_IOC_START:
		err = arg ? -EINVAL : myring_start(dev);
		break;
	case MYRING_IOC_STOP:
		if (arg)
			err = -EINVAL;
		else
			myring_stop(dev);
		break;
	case MYRING_IOC_STATS:
		myring_get_stats(dev, &st);
		if (copy_to_user(uarg, &st, sizeof(st)))
			err = -EFAULT;
		break;
	default:
		err = -ENOTTY;
	}
	mutex_unlock(&dev->ctl);
	return err;
}

static __poll_t myring_poll(struct file *file, poll_table *wait)
{
	struct myring_dev *dev = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &dev->wq, wait);
	spin_lock_bh(&dev->lock);
	myring_refresh_consumer(dev);
	/* After STOP nothing else would write a DROP still owed. */
	if (dev->lost_pending && myring_flush_drop(dev))
		myring_publish(dev);
	if (myring_fill(dev))
		mask |= EPOLLIN | EPOLLRDNORM;
	spin_unlock_bh(&dev->lock);
	return mask;
}

static int myring_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct myring_dev *dev = file->private_data;

	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != dev->mmap_size)
		return -EINVAL;
	/* A private (copy-on-write) mapping would never see the producer. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	return remap_vmalloc_range(vma, dev->area, 0);
}

static int myring_open(struct inode *inode, struct file *file)
{
	struct myring_dev *dev = &mydev;
	struct myring_hdr *hdr;

	if (test_and_set_bit(0, &dev->busy))
		return -EBUSY;

	dev->ring_size = ring_kb * 1024;
	dev->mmap_size = MYRING_HDR_SIZE + (u64)dev->ring_size;
	dev->area = vmalloc_user(dev->mmap_size);
	if (!dev->area) {
		clear_bit(0, &dev->busy);
		return -ENOMEM;
	}
	dev->hdr = dev->area;
	dev->ring = (u8 *)dev->area + MYRING_HDR_SIZE;
	dev->prod = dev->cons = dev->seq = 0;
	dev->produced = dev->lost = dev->lost_pending = dev->first_lost_seq = 0;
	dev->drop_records = dev->bytes = dev->wm_signals = dev->bad_consumer = 0;
	dev->armed = true;
	dev->running = dev->stopped = false;
	dev->efd = NULL;
	dev->nf_registered = false;
	memset(&dev->cfg, 0, sizeof(dev->cfg));
	dev->cfg.mode = MYRING_MODE_SYNTH;
	dev->cfg.rate_hz = rate_hz;
	dev->cfg.record_size = record_size;
	dev->cfg.snaplen = 65535;
	/* module parameters were validated at load; this fills the watermarks */
	myring_check_config(dev, &dev->cfg);

	hdr = dev->hdr;
	hdr->magic = MYRING_MAGIC;
	hdr->version = MYRING_VERSION;
	hdr->hdr_size = MYRING_HDR_SIZE;
	hdr->ring_size = dev->ring_size;
	hdr->rec_align = MYRING_ALIGN;

	file->private_data = dev;
	return 0;
}

static int myring_release(struct inode *inode, struct file *file)
{
	struct myring_dev *dev = file->private_data;

	/* Runs after the last munmap too: a mapping holds a file reference. */
	mutex_lock(&dev->ctl);
	myring_stop(dev);
	mutex_unlock(&dev->ctl);
	myring_set_eventfd(dev, -1);
	vfree(dev->area);
	dev->area = NULL;
	dev->hdr = NULL;
	dev->ring = NULL;
	clear_bit(0, &dev->busy);
	return 0;
}

static const struct file_operations myring_fops = {
	.owner = THIS_MODULE,	/* pins the module while any fd or mapping lives */
	.open = myring_open,
	.release = myring_release,
	.unlocked_ioctl = myring_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = myring_poll,
	.mmap = myring_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice myring_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "myring",
	.fops = &myring_fops,
	.mode = 0600,
};

static int __init myring_init(void)
{
	struct myring_config cfg = {
		.mode = MYRING_MODE_SYNTH, .rate_hz = rate_hz,
		.record_size = record_size, .snaplen = 65535,
	};
	int err;

	BUILD_BUG_ON(sizeof(struct myring_hdr) > MYRING_HDR_SIZE);
	BUILD_BUG_ON(offsetof(struct myring_hdr, producer) != 64);
	BUILD_BUG_ON(offsetof(struct myring_hdr, consumer) != 128);
	BUILD_BUG_ON(sizeof(struct myring_rec) != MYRING_ALIGN);
	BUILD_BUG_ON(MYRING_HDR_SIZE % PAGE_SIZE);

	if (ring_kb < 64 || ring_kb > 65536 || !is_power_of_2(ring_kb)) {
		pr_err("ring_kb=%u: must be a power of two in 64..65536\n", ring_kb);
		return -EINVAL;
	}
	mydev.ring_size = ring_kb * 1024;
	if (myring_check_config(&mydev, &cfg)) {
		pr_err("rate_hz=%u record_size=%u out of range\n", rate_hz, record_size);
		return -EINVAL;
	}

	mutex_init(&mydev.ctl);
	spin_lock_init(&mydev.lock);
	init_waitqueue_head(&mydev.wq);
	myring_timer_setup(&mydev.timer, myring_tick, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);

	err = misc_register(&myring_misc);
	if (err)
		goto err_misc;
	pr_info("ready: /dev/myring, ring %u KiB\n", ring_kb);
	return 0;

err_misc:
	mutex_destroy(&mydev.ctl);
	return err;
}

static void __exit myring_exit(void)
{
	/* No file can be open here: every open file holds a module reference. */
	misc_deregister(&myring_misc);
	mutex_destroy(&mydev.ctl);
}

module_init(myring_init);
module_exit(myring_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Shared-memory record ring with a synthetic and a netfilter producer");
