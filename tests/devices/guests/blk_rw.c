/* virtio-blk driver test: negotiates features, reads the config, writes
 * `kib` KiB of pattern 7 in 8 KiB requests (header + two data descriptors
 * + status, alternating chained and indirect), flushes, reads everything
 * back and compares, and prints an FNV-1a checksum of what it read for the
 * host to compare with the file. Also: GET_ID, a read past the end (must
 * fail with IOERR) and, on the second (read-only) disk, a refused write.
 * Options: kib=N (default 256). Exit 0 = all good. */
#include "virtio_drv.h"

#define BLK_ID 2
#define QMEM 0x1000000ull
#define QMEM2 0x1040000ull
#define HDRS 0x1100000ull  /* 16-byte headers + status bytes, per slot */
#define DATA 0x1200000ull  /* 8 KiB per slot */
#define SLOTS 16
#define REQ 8192u
#define F_RO 5
#define F_FLUSH 9

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	uart_puts("blk guest: FAIL ");
	uart_puts(why);
	uart_putc(' ');
	uart_put_dec(v);
	uart_putc('\n');
	guest_exit(1);
}

struct disk {
	uint64_t base, f, sectors;
	struct vq q;
	unsigned int reqs;
};

static void open_disk(struct disk *d, unsigned int nth, uint64_t qmem)
{
	d->base = vdrv_find(BLK_ID, nth);
	if (!d->base)
		fail("no virtio-blk device", nth);
	uint64_t want = (1ull << VDRV_F_VERSION_1) | (1ull << VDRV_F_INDIRECT) |
			(1ull << VDRV_F_EVENT_IDX) | (1ull << F_FLUSH) | (1ull << F_RO);
	d->f = vdrv_negotiate(d->base, want & vdrv_features(d->base));
	if (d->f == ~0ull)
		fail("FEATURES_OK refused", nth);
	d->sectors = (uint64_t)vdrv_read(d->base, 0x100) | ((uint64_t)vdrv_read(d->base, 0x104) << 32);
	if (vdrv_queue(&d->q, d->base, 0, 64, qmem))
		fail("queue setup", nth);
	vdrv_driver_ok(d->base);
}

/* Submits one request on slot s; data = DATA + s * REQ. */
static void submit(struct disk *d, unsigned int s, uint32_t type, uint64_t sector, uint32_t len)
{
	uint64_t h = HDRS + s * 32ull;
	*(volatile uint32_t *)h = type;
	*(volatile uint32_t *)(h + 4) = 0;
	*(volatile uint64_t *)(h + 8) = sector;
	*(volatile uint8_t *)(h + 16) = 0xff;
	bool in = type == 0 || type == 8;
	struct vbuf b[4];
	unsigned int n = 0;
	b[n++] = (struct vbuf){ h, 16, false };
	if (len > 4096) {
		b[n++] = (struct vbuf){ DATA + s * REQ, 4096, in };
		b[n++] = (struct vbuf){ DATA + s * REQ + 4096, len - 4096, in };
	} else if (len) {
		b[n++] = (struct vbuf){ DATA + s * REQ, len, in };
	}
	b[n++] = (struct vbuf){ h + 16, 1, true };
	bool ind = (d->f & (1ull << VDRV_F_INDIRECT)) && (d->reqs++ & 1);
	if (vq_add(&d->q, b, n, ind) < 0)
		fail("ring full", s);
	vq_kick(&d->q);
}

/* Waits for the count requests on slots 0..count-1; with check_ok each
 * must have completed with status OK. */
static void wait_all(struct disk *d, unsigned int count, bool check_ok)
{
	unsigned int slots = count;
	while (count) {
		uint16_t head;
		uint32_t len;
		if (!vq_used(&d->q, &head, &len))
			continue;
		vq_free(&d->q, head);
		count--;
	}
	if (check_ok)
		for (unsigned int s = 0; s < slots; s++) {
			uint8_t st = *(volatile uint8_t *)(HDRS + s * 32ull + 16);
			if (st != 0)
				fail("request status", st);
		}
}

static uint8_t one_request(struct disk *d, uint32_t type, uint64_t sector, uint32_t len)
{
	submit(d, 0, type, sector, len);
	wait_all(d, 1, false);
	return *(volatile uint8_t *)(HDRS + 16);
}

int guest_main(void)
{
	uint64_t kib = guest_opt("kib", 256);
	uint64_t total = kib * 1024, nreq = total / REQ;
	struct disk rw, ro;
	open_disk(&rw, 0, QMEM);
	if (rw.sectors * 512 < total + 512)
		fail("disk too small, sectors", rw.sectors);
	if (!(rw.f & (1ull << F_FLUSH)) || (rw.f & (1ull << F_RO)))
		fail("rw disk features", rw.f);
	struct pattern p;
	pattern_init(&p, 7);
	for (uint64_t r = 0; r < nreq; r += SLOTS) {
		unsigned int n = 0;
		for (unsigned int s = 0; s < SLOTS && r + s < nreq; s++, n++) {
			uint8_t *buf = (uint8_t *)(DATA + s * REQ);
			for (uint32_t i = 0; i < REQ; i++)
				buf[i] = pattern_next(&p);
			submit(&rw, s, 1, (r + s) * (REQ / 512), REQ);
		}
		wait_all(&rw, n, true);
	}
	if (one_request(&rw, 4, 0, 0) != 0)
		fail("flush status", 1);
	uart_puts("blk guest: wrote and flushed ");
	uart_put_dec(total);
	uart_puts(" bytes\n");
	pattern_init(&p, 7);
	uint64_t fnv = 0xcbf29ce484222325ull;
	for (uint64_t r = 0; r < nreq; r += SLOTS) {
		unsigned int n = 0;
		for (unsigned int s = 0; s < SLOTS && r + s < nreq; s++, n++) {
			memset((void *)(DATA + s * REQ), 0, REQ);
			submit(&rw, s, 0, (r + s) * (REQ / 512), REQ);
		}
		wait_all(&rw, n, true);
		for (unsigned int s = 0; s < n; s++) {
			const uint8_t *buf = (const uint8_t *)(DATA + s * REQ);
			for (uint32_t i = 0; i < REQ; i++) {
				if (buf[i] != pattern_next(&p))
					fail("read-back mismatch at byte", (r + s) * REQ + i);
				fnv = (fnv ^ buf[i]) * 0x100000001b3ull;
			}
		}
	}
	uart_puts("blk guest: read back ok, fnv1a ");
	uart_put_hex(fnv);
	uart_putc('\n');
	if (one_request(&rw, 8, 0, 20) != 0 || memcmp((void *)DATA, "joey-test-disk", 15))
		fail("GET_ID", 0);
	if (one_request(&rw, 0, rw.sectors, 512) != 1)
		fail("read past the end was not refused", rw.sectors);
	if (one_request(&rw, 0, rw.sectors - 1, 1024) != 1)
		fail("read across the end was not refused", rw.sectors);
	uart_puts("blk guest: get-id and out-of-range checks ok\n");
	open_disk(&ro, 1, QMEM2);
	if (!(ro.f & (1ull << F_RO)))
		fail("read-only disk without VIRTIO_BLK_F_RO", ro.f);
	if (one_request(&ro, 1, 0, 512) != 1)
		fail("write to a read-only disk was not refused", 0);
	if (one_request(&ro, 0, 0, 4096) != 0)
		fail("read from the read-only disk", 0);
	uart_puts("blk guest: read-only disk refused the write\n");
	uart_puts("blk guest: ALL OK\n");
	return 0;
}
