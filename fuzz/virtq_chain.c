/* Fuzzes split-virtqueue parsing: the input becomes guest RAM holding the
 * rings and descriptor tables; the queue geometry comes from its first
 * bytes. Every chain the parser accepts must lie inside RAM, respect the
 * length caps and copy/iovec helpers must stay inside it too. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_mem.h"
#include "virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem gm;
	static struct vq_chain c;
	static uint8_t buf[4096];
	if (size < 16)
		return 0;
	fz_mem_init(&gm);
	struct virtq q = { 0 };
	q.num = (uint16_t)(1u << (data[0] % 11)); /* 1..1024 */
	q.desc = (uint64_t)(data[1] | (data[2] << 8)) << 4;
	q.avail = (uint64_t)(data[3] | (data[4] << 8)) << 1;
	q.used = (uint64_t)(data[5] | (data[6] << 8)) << 2;
	q.event_idx = data[7] & 1;
	q.indirect = data[7] & 2;
	q.last_avail = (uint16_t)(data[8] | (data[9] << 8));
	q.used_idx = q.last_avail;
	fz_mem_fill(data + 10, size - 10);
	if (virtq__validate(&q, &gm))
		return 0;
	q.ready = true;
	for (int n = 0; n < 64; n++) {
		int r = virtq__pop(&q, &gm, &c);
		if (r <= 0)
			break;
		assert(c.nr_out + c.nr_in <= VQ_MAX_SEGS);
		assert(c.out_len <= VQ_MAX_CHAIN_LEN && c.in_len <= VQ_MAX_CHAIN_LEN);
		uint64_t out = 0, in = 0;
		for (unsigned int i = 0; i < (unsigned)(c.nr_out + c.nr_in); i++) {
			assert(gm__range_ok(&gm, c.seg[i].gpa, c.seg[i].len));
			if (i < c.nr_out)
				out += c.seg[i].len;
			else
				in += c.seg[i].len;
		}
		assert(out == c.out_len && in == c.in_len);
		uint32_t take = c.out_len < sizeof(buf) ? c.out_len : sizeof(buf);
		assert(vq_chain__read(&c, &gm, 0, buf, take) == (long)take);
		uint32_t give = c.in_len < sizeof(buf) ? c.in_len : sizeof(buf);
		assert(vq_chain__write(&c, &gm, 0, buf, give) == (long)give);
		struct iovec iov[8];
		int ni = vq_chain__iov(&c, &gm, true, 0, give, iov, 8);
		assert(ni >= -ENOBUFS);
		virtq__push(&q, &gm, c.head, give);
		(void)virtq__should_notify(&q, &gm);
	}
	return 0;
}
