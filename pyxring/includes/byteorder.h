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

static inline uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}
#endif
