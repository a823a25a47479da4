/* Byte-order-aware loads and exact timestamp arithmetic for the file source
 * (pyxring/file/_filesrc.pyx).  Capture files may be written in either byte
 * order and their fields are not aligned, so every load goes through memcpy.
 *
 * Times: a pcapng timestamp is a 64-bit count of units of 10^-k or 2^-n
 * seconds (k, n up to 127) plus a signed 64-bit offset in seconds, so the
 * seconds can exceed 64 bits; the arithmetic is done in 128 bits. */
#ifndef PYXRING_FILETIME_H
#define PYXRING_FILETIME_H
#include <stdint.h>
#include <string.h>

static inline uint16_t fs_u16(const uint8_t *p, int swapped)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap16(v) : v;
}

static inline uint32_t fs_u32(const uint8_t *p, int swapped)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap32(v) : v;
}

static inline uint64_t fs_u64(const uint8_t *p, int swapped)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap64(v) : v;
}

/* The writing side (a convert writes records back in the file's own byte
 * order). */
static inline void fs_put16(uint8_t *p, uint16_t v, int swapped)
{
    if (swapped)
        v = __builtin_bswap16(v);
    memcpy(p, &v, sizeof(v));
}

static inline void fs_put32(uint8_t *p, uint32_t v, int swapped)
{
    if (swapped)
        v = __builtin_bswap32(v);
    memcpy(p, &v, sizeof(v));
}

/* Records are walked by following their lengths, so the hardware cannot
 * guess the next header's address and every header would wait on memory.
 * Prefetching the bytes ahead of the walk, a cache line at a time, keeps a
 * mapped page-cache file streaming instead. */
#define FS_PREFETCH_AHEAD 4096
static inline const uint8_t *fs_prefetch_to(const uint8_t *from, const uint8_t *to)
{
    for (; from < to; from += 64)
        __builtin_prefetch(from, 0, 0);
    return from;
}

/* Units per second of an if_tsresol byte: 10^k or 2^n.  Returns 0 when it
 * does not fit 128 bits (10^39 and finer), where every fraction of a 64-bit
 * count is below a nanosecond. */
static inline unsigned __int128 fs_units_per_sec(uint8_t tsresol)
{
    unsigned __int128 r = 1;
    unsigned i, e = tsresol & 0x7f;
    if (tsresol & 0x80)
        return e > 127 ? 0 : ((unsigned __int128)1) << e;
    if (e > 38)
        return 0;
    for (i = 0; i < e; i++)
        r *= 10;
    return r;
}

/* The time of ``units`` on an interface with ``per_sec`` units per second
 * (0: finer than 10^-38) and ``offset`` seconds, as nanoseconds since the
 * epoch.  Returns 1 and sets *ns when that fits 0 .. 2^64-1, else returns 0
 * and sets *ns to the nearest end of that range. */
static inline int fs_units_to_ns(uint64_t units, unsigned __int128 per_sec,
                                 int64_t offset, uint64_t *ns)
{
    __int128 sec;
    unsigned __int128 frac_ns;
    __int128 total;
    if (per_sec == 0) {
        sec = 0;
        frac_ns = 0;
    } else {
        sec = (__int128)(units / per_sec);
        frac_ns = (unsigned __int128)(units % per_sec) * 1000000000u / per_sec;
    }
    sec += offset;
    /* |sec| < 2^65, so sec * 10^9 stays far inside 128 bits */
    total = sec * 1000000000 + (__int128)frac_ns;
    if (total < 0) {
        *ns = 0;
        return 0;
    }
    if (total > (__int128)UINT64_MAX) {
        *ns = UINT64_MAX;
        return 0;
    }
    *ns = (uint64_t)total;
    return 1;
}

#endif
