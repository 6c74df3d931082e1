/* LZ4 legacy-frame decoder for Linux kernel payloads. */
#ifndef JOEY_LZ4_H
#define JOEY_LZ4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LZ4_COMPRESSBOUND(n) ((n) + (n) / 255 + 16)

bool lz4__is_legacy(const uint8_t *in, size_t len);
/* Decodes into out[0..cap); 0 and *produced, or -EINVAL on malformed input
 * or when cap is too small. */
int lz4__legacy_decompress(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			   size_t *produced);

#endif
