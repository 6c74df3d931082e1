/* virtio-blk benchmark guest: mode=1 does `count` random 4 KiB reads (16 in
 * flight), mode=2 reads the disk sequentially in 1 MiB requests (4 in
 * flight) `count` times over. Like Linux's driver it negotiates EVENT_IDX,
 * publishes what it can submit and then notifies only when the device's
 * avail_event asks for it; it polls the used ring (no interrupt handler). Prints "bench start" / "bench end" so the host
 * can time the reads alone. No data checks: vm_blk_test does those. */
#include "virtio_drv.h"

#define BLK_ID 2
#define QMEM 0x1000000ull
#define HDRS 0x1100000ull
#define DATA 0x1200000ull /* 4 × 1 MiB */
#define DEPTH_RAND 16
#define DEPTH_SEQ 4

static struct vq q;

static void submit(unsigned int slot, uint64_t sector, uint32_t len)
{
	uint64_t h = HDRS + slot * 32ull;
	*(volatile uint32_t *)h = 0;
	*(volatile uint32_t *)(h + 4) = 0;
	*(volatile uint64_t *)(h + 8) = sector;
	struct vbuf b[3] = { { h, 16, false }, { DATA + slot * (1ull << 20), len, true },
			     { h + 16, 1, true } };
	while (vq_add(&q, b, 3, false) < 0) {
		uint16_t head;
		uint32_t l;
		if (vq_used(&q, &head, &l))
			vq_free(&q, head);
	}
}

/* What Linux's virtqueue_kick_prepare does with EVENT_IDX: after publishing
 * the avail entries [old, avail_idx), notify only if the device asked
 * (avail_event) to hear about one of them; a device still working through
 * the ring has not asked, and will find them on its own. */
static void kick_prepared(uint16_t old)
{
	mb();
	uint16_t event = (uint16_t)q.used[1 + 2u * q.num];
	if ((uint16_t)(q.avail_idx - event - 1) < (uint16_t)(q.avail_idx - old))
		vq_kick(&q);
}

int guest_main(void)
{
	uint64_t mode = guest_opt("mode", 1), count = guest_opt("count", 1000);
	uint64_t base = vdrv_find(BLK_ID, 0);
	if (!base)
		return 1;
	if (vdrv_negotiate(base, (1ull << VDRV_F_VERSION_1) | (1ull << VDRV_F_EVENT_IDX)) == ~0ull)
		return 2;
	uint64_t sectors = (uint64_t)vdrv_read(base, 0x100) | ((uint64_t)vdrv_read(base, 0x104) << 32);
	if (vdrv_queue(&q, base, 0, 64, QMEM))
		return 3;
	vdrv_driver_ok(base);
	uint64_t rng = 88172645463325252ull, done = 0, issued = 0;
	unsigned int depth = mode == 1 ? DEPTH_RAND : DEPTH_SEQ;
	uint64_t total = mode == 1 ? count : count * (sectors / 2048);
	uart_puts("bench start\n");
	while (done < total) {
		uint16_t old = q.avail_idx;
		while (issued < total && issued - done < depth) {
			if (mode == 1) {
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				submit((unsigned int)(issued % depth), (rng % (sectors / 8)) * 8, 4096);
			} else {
				submit((unsigned int)(issued % depth), (issued % (sectors / 2048)) * 2048,
				       1u << 20);
			}
			issued++;
		}
		if (q.avail_idx != old)
			kick_prepared(old);
		/* Reap every completion there is before refilling, as Linux's
		 * virtblk_done drains the used ring. */
		uint16_t head;
		uint32_t len;
		while (vq_used(&q, &head, &len)) {
			vq_free(&q, head);
			done++;
		}
	}
	uart_puts("bench end ");
	uart_put_dec(total);
	uart_putc('\n');
	return 0;
}
