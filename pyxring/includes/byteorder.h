/* Loads of network-order (big-endian) integers from unaligned packet bytes.
 * memcpy keeps them legal C at any alignment; gcc turns each into one load
 * and a byte swap. */
#ifndef PYXRING_BYTEORDER_H
#define PYXRING_BYTEORDER_H
#include <stdint.h>
#include <string.h>

static inline uint16_t load_be16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap16(v);
}

static inline uint32_t load_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap32(v);
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

static inline void store_be16(uint8_t *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, sizeof(v));
}

/* The low 48 bits of v, most significant byte first. */
static inline void store_be48(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v << 16);
	memcpy(p, &v, 6);
}

/* Start loading the cache line at p (a hint: never faults). */
static inline void prefetch(const void *p)
{
	__builtin_prefetch(p, 0, 3);
}

static inline uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}
#endif
