/* virtio-blk budget regression guest: the device serves at most 256 chains
 * per kick, and must come back by itself for the rest. Like Linux's driver
 * this guest negotiates EVENT_IDX and notifies only when the device's
 * avail_event asks for it. It fills the whole 256-entry ring (indirect
 * descriptors, one per request) and notifies once; the device then pops all
 * 256 without ever finding the ring empty, so it never moves avail_event.
 * As completions arrive the guest re-posts, `count` reads in all (default
 * 512), never notifying unless avail_event says the device is waiting. A
 * device that returns at its budget without re-kicking itself leaves those
 * requests queued forever: the guest then stops (bounded) with a FAIL line.
 * Every 4 KiB read is checked against the disk's content, which the host
 * writes as: the 64-bit word at byte offset o holds o ^ BURST_KEY.
 * Options: count=N. Exit 0 and "ALL OK" = every request completed. */
#include "virtio_drv.h"

#define BLK_ID 2
#define QMEM 0x1000000ull
#define HDRS 0x1100000ull /* 16-byte header + status byte per head */
#define DATA 0x1200000ull /* 4 KiB per head */
#define RING 256u
#define REQ 4096u
#define BURST_KEY 0x9e3779b97f4a7c15ull
/* Polls of an unchanged used ring before declaring a stall; far beyond
 * the time any request takes, well within the host's timeout. */
#define STALL_SPINS 1500000000ull

static struct vq q;
static uint64_t sector_of[RING];

static void submit(uint64_t sector)
{
	/* The head vq_add will take: chains are one indirect descriptor. */
	uint16_t head = q.free_head;
	uint64_t h = HDRS + head * 32ull;
	*(volatile uint32_t *)h = 0; /* VIRTIO_BLK_T_IN */
	*(volatile uint32_t *)(h + 4) = 0;
	*(volatile uint64_t *)(h + 8) = sector;
	*(volatile uint8_t *)(h + 16) = 0xff;
	for (unsigned int i = 0; i < REQ / 8; i++)
		((volatile uint64_t *)(DATA + head * (uint64_t)REQ))[i] = 0;
	struct vbuf b[3] = { { h, 16, false }, { DATA + head * (uint64_t)REQ, REQ, true },
			     { h + 16, 1, true } };
	if (vq_add(&q, b, 3, true) != head)
		vdrv_fail("blk burst", "vq_add took another head", head);
	sector_of[head] = sector;
}

/* Linux's virtqueue_kick_prepare with EVENT_IDX: notify only if avail_event
 * lies among the entries just published [old, avail_idx). */
static bool kick_prepared(uint16_t old)
{
	mb();
	uint16_t event = (uint16_t)q.used[1 + 2u * q.num];
	if ((uint16_t)(q.avail_idx - event - 1) >= (uint16_t)(q.avail_idx - old))
		return false;
	vq_kick(&q);
	return true;
}

static void check(uint16_t head, uint32_t len)
{
	uint64_t h = HDRS + head * 32ull;
	if (head >= RING)
		vdrv_fail("blk burst", "used head out of range", head);
	if (*(volatile uint8_t *)(h + 16) != 0)
		vdrv_fail("blk burst", "request status", *(volatile uint8_t *)(h + 16));
	if (len != REQ + 1)
		vdrv_fail("blk burst", "used length", len);
	uint64_t off = sector_of[head] * 512;
	const volatile uint64_t *d = (const volatile uint64_t *)(DATA + head * (uint64_t)REQ);
	for (unsigned int i = 0; i < REQ / 8; i++)
		if (d[i] != ((off + i * 8ull) ^ BURST_KEY))
			vdrv_fail("blk burst", "wrong data at disk offset", off + i * 8ull);
}

int guest_main(void)
{
	uint64_t count = guest_opt("count", 512);
	uint64_t base = vdrv_find(BLK_ID, 0);
	if (!base)
		vdrv_fail("blk burst", "no virtio-blk device", 0);
	uint64_t want = (1ull << VDRV_F_VERSION_1) | (1ull << VDRV_F_INDIRECT) |
			(1ull << VDRV_F_EVENT_IDX);
	uint64_t f = vdrv_negotiate(base, want);
	if (f != want)
		vdrv_fail("blk burst", "features not all offered", f);
	uint64_t blocks = ((uint64_t)vdrv_read(base, 0x100) | ((uint64_t)vdrv_read(base, 0x104) << 32)) / 8;
	if (blocks < RING)
		vdrv_fail("blk burst", "disk too small (4 KiB blocks)", blocks);
	if (vdrv_queue(&q, base, 0, RING, QMEM))
		vdrv_fail("blk burst", "queue setup", RING);
	vdrv_driver_ok(base);

	uint64_t issued = 0, done = 0, kicks = 0, idle = 0;
	/* Fill the ring, then the one notify everything else follows from. */
	while (issued < count && issued < RING) {
		submit((issued % blocks) * 8);
		issued++;
	}
	kicks += kick_prepared(0);
	while (done < count) {
		uint16_t head;
		uint32_t len;
		bool progress = false;
		while (vq_used(&q, &head, &len)) {
			check(head, len);
			vq_free(&q, head);
			done++;
			progress = true;
		}
		uint16_t old = q.avail_idx;
		while (issued < count && q.nr_free) {
			submit((issued % blocks) * 8);
			issued++;
		}
		if (q.avail_idx != old)
			kicks += kick_prepared(old);
		if (progress) {
			idle = 0;
		} else if (++idle == STALL_SPINS) {
			uart_puts("blk burst: stalled with avail_event ");
			uart_put_dec((uint16_t)q.used[1 + 2u * q.num]);
			uart_puts(", issued ");
			uart_put_dec(issued);
			uart_puts(", kicks ");
			uart_put_dec(kicks);
			uart_putc('\n');
			vdrv_fail("blk burst", "requests never completed; done", done);
		}
	}
	uart_puts("blk burst: ");
	uart_put_dec(done);
	uart_puts(" reads checked, ");
	uart_put_dec(kicks);
	uart_puts(" notifies\nblk burst: ALL OK\n");
	return 0;
}
