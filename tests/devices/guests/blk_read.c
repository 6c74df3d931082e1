/* virtio-blk reader for the TypeScript binding's test
 * (tests/hypervisor/builtin/blk_test.ts): reads the first `kib` KiB of the
 * first disk in 4 KiB requests and prints what the host checks:
 *   blk_read: id <GET_ID text> sectors <capacity> ro <0|1>
 *   blk_read: fnv1a 0x<FNV-1a 64 of the bytes read>
 * Options: kib=N (default 64). Exit 0 = every request completed OK. */
#include "virtio_drv.h"

#define BLK_ID 2
#define F_RO 5
#define T_IN 0
#define T_GET_ID 8
#define QMEM 0x1000000ull
#define HDR 0x1100000ull  /* 16-byte request header, status byte at +16 */
#define DATA 0x1200000ull /* one 4 KiB buffer */
#define REQ 4096u

static struct vq q;

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	uart_puts("blk_read: FAIL ");
	uart_puts(why);
	uart_putc(' ');
	uart_put_dec(v);
	uart_putc('\n');
	guest_exit(1);
}

/* One request, waited for; returns its status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len)
{
	*(volatile uint32_t *)HDR = type;
	*(volatile uint32_t *)(HDR + 4) = 0;
	*(volatile uint64_t *)(HDR + 8) = sector;
	*(volatile uint8_t *)(HDR + 16) = 0xff;
	struct vbuf b[3] = { { HDR, 16, false }, { DATA, len, true }, { HDR + 16, 1, true } };
	if (vq_add(&q, b, 3, false) < 0)
		fail("ring full", 0);
	vq_kick(&q);
	uint16_t head;
	uint32_t used;
	while (!vq_used(&q, &head, &used))
		cpu_relax();
	vq_free(&q, head);
	return *(volatile uint8_t *)(HDR + 16);
}

int guest_main(void)
{
	uint64_t total = guest_opt("kib", 64) * 1024;
	uint64_t base = vdrv_find(BLK_ID, 0);
	if (!base)
		fail("no virtio-blk device", 0);
	uint64_t f = vdrv_negotiate(base, ((1ull << VDRV_F_VERSION_1) | (1ull << F_RO)) &
						  vdrv_features(base));
	if (f == ~0ull)
		fail("FEATURES_OK refused", 0);
	uint64_t sectors = (uint64_t)vdrv_read(base, 0x100) | ((uint64_t)vdrv_read(base, 0x104) << 32);
	if (sectors * 512 < total)
		fail("disk smaller than kib, sectors", sectors);
	if (vdrv_queue(&q, base, 0, 16, QMEM))
		fail("queue setup", 0);
	vdrv_driver_ok(base);

	memset((void *)DATA, 0, 21);
	if (request(T_GET_ID, 0, 20) != 0)
		fail("GET_ID status", 0);
	uart_puts("blk_read: id ");
	uart_puts((const char *)DATA);
	uart_puts(" sectors ");
	uart_put_dec(sectors);
	uart_puts(" ro ");
	uart_put_dec(!!(f & (1ull << F_RO)));
	uart_putc('\n');

	uint64_t fnv = 0xcbf29ce484222325ull;
	for (uint64_t off = 0; off < total; off += REQ) {
		uint8_t st = request(T_IN, off / 512, REQ);
		if (st != 0)
			fail("read status", st);
		const uint8_t *d = (const uint8_t *)DATA;
		for (uint32_t i = 0; i < REQ; i++)
			fnv = (fnv ^ d[i]) * 0x100000001b3ull;
	}
	uart_puts("blk_read: fnv1a ");
	uart_put_hex(fnv);
	uart_putc('\n');
	return 0;
}
