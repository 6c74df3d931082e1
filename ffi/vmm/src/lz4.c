/* LZ4 "legacy" frame decoder (the format Linux uses for CONFIG_KERNEL_LZ4
 * payloads): magic 0x184c2102, then blocks of <le32 compressed size><LZ4
 * block>. The loader uses it to unpack a bzImage's vmlinux on the host, so
 * the guest skips its own decompressor, which is slow where KVM emulates
 * guest kernel code (PVM). Every read and write is bounds-checked. */
#include <errno.h>
#include <string.h>

#include "lz4.h"

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads an LZ4 length continuation (bytes of 255 add up). */
static int lz4__length(const uint8_t *in, size_t len, size_t *pos, size_t *value)
{
	uint8_t b;

	do {
		if (*pos >= len)
			return -EINVAL;
		b = in[(*pos)++];
		*value += b;
	} while (b == 255);
	return 0;
}

static int lz4__block(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outpos)
{
	size_t pos = 0, op = *outpos;

	while (pos < len) {
		uint8_t token = in[pos++];
		size_t lit = token >> 4, match = token & 0xf, off;

		if (lit == 15 && lz4__length(in, len, &pos, &lit))
			return -EINVAL;
		if (lit > len - pos || lit > cap - op)
			return -EINVAL;
		memcpy(out + op, in + pos, lit);
		pos += lit;
		op += lit;
		if (pos == len)
			break; /* the last sequence has literals only */
		if (len - pos < 2)
			return -EINVAL;
		off = (size_t)in[pos] | (size_t)in[pos + 1] << 8;
		pos += 2;
		if (match == 15 && lz4__length(in, len, &pos, &match))
			return -EINVAL;
		match += 4;
		/* Offsets reach back across block boundaries in the legacy format. */
		if (!off || off > op || match > cap - op)
			return -EINVAL;
		/* Overlapping copies repeat the pattern: copy byte by byte. */
		for (size_t i = 0; i < match; i++, op++)
			out[op] = out[op - off];
	}
	*outpos = op;
	return 0;
}

bool lz4__is_legacy(const uint8_t *in, size_t len)
{
	return len >= 4 && le32(in) == LZ4_LEGACY_MAGIC;
}

int lz4__legacy_decompress(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			   size_t *produced)
{
	size_t pos = 4, op = 0;

	if (!lz4__is_legacy(in, len))
		return -EINVAL;
	while (len - pos >= 4) {
		uint32_t blk = le32(in + pos);

		/* A repeated magic starts a concatenated frame. */
		if (blk == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		pos += 4;
		if (blk > len - pos || blk > LZ4_COMPRESSBOUND(LZ4_LEGACY_BLOCK))
			break; /* trailing data (kbuild appends the size): end of stream */
		if (lz4__block(in + pos, blk, out, cap, &op))
			return -EINVAL;
		pos += blk;
	}
	*produced = op;
	return op ? 0 : -EINVAL;
}
