/* virtio-net driver test: checks the MAC in config, posts rx buffers, sends
 * `frames` Ethernet frames (ethertype 0x88b5, local experimental) carrying a
 * sequence number and pattern 11, then waits for `frames` frames of the same
 * ethertype from the host (pattern 12) and checks them; other traffic (the
 * host kernel's IPv6 chatter on the tap) is ignored.
 * Options: frames=N (default 16). Exit 0 = all good. */
#include "virtio_drv.h"

#define NET_ID 1
#define RXQ_MEM 0x1000000ull
#define TXQ_MEM 0x1020000ull
#define RXBUF 0x1100000ull
#define TXBUF 0x1200000ull
#define NRX 32
#define BUFSZ 2048
#define HDR 12
#define PAYLOAD 1000
#define F_MAC 5

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	uart_puts("net guest: FAIL ");
	uart_puts(why);
	uart_putc(' ');
	uart_put_dec(v);
	uart_putc('\n');
	guest_exit(1);
}

int guest_main(void)
{
	uint64_t frames = guest_opt("frames", 16);
	uint64_t base = vdrv_find(NET_ID, 0);
	struct vq rx, tx;
	if (!base)
		fail("no virtio-net device", 0);
	uint64_t want = (1ull << VDRV_F_VERSION_1) | (1ull << F_MAC) | (1ull << VDRV_F_EVENT_IDX);
	uint64_t f = vdrv_negotiate(base, want & vdrv_features(base));
	if (f == ~0ull || !(f & (1ull << F_MAC)))
		fail("features", f);
	uint8_t mac[6];
	for (int i = 0; i < 6; i++)
		mac[i] = mmio_read8(base + 0x100 + (uint64_t)i);
	static const uint8_t want_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	if (memcmp(mac, want_mac, 6))
		fail("config MAC", mac[5]);
	if (vdrv_queue(&rx, base, 0, NRX, RXQ_MEM) || vdrv_queue(&tx, base, 1, 64, TXQ_MEM))
		fail("queue setup", 0);
	vdrv_driver_ok(base);
	for (unsigned int i = 0; i < NRX; i++) {
		struct vbuf b = { RXBUF + (uint64_t)i * BUFSZ, BUFSZ, true };
		vq_add(&rx, &b, 1, false);
	}
	vq_kick(&rx);
	struct pattern p;
	pattern_init(&p, 11);
	for (uint64_t n = 0; n < frames; n++) {
		uint16_t head;
		uint32_t len;
		while (tx.nr_free < 2)
			if (vq_used(&tx, &head, &len))
				vq_free(&tx, head);
		uint8_t *buf = (uint8_t *)(TXBUF + (n % 32) * BUFSZ);
		memset(buf, 0, HDR);
		uint8_t *fr = buf + HDR;
		memset(fr, 0xff, 6);
		memcpy(fr + 6, mac, 6);
		fr[12] = 0x88;
		fr[13] = 0xb5;
		fr[14] = (uint8_t)n;
		for (int i = 0; i < PAYLOAD; i++)
			fr[15 + i] = pattern_next(&p);
		/* Header and frame in separate descriptors: a chained request. */
		struct vbuf b[2] = { { (uint64_t)buf, HDR, false },
				     { (uint64_t)fr, 15 + PAYLOAD, false } };
		vq_add(&tx, b, 2, false);
		vq_kick(&tx);
	}
	uart_puts("net guest: sent ");
	uart_put_dec(frames);
	uart_puts(" frames\n");
	pattern_init(&p, 12);
	uint64_t got = 0, other = 0;
	while (got < frames) {
		uint16_t head;
		uint32_t len;
		if (!vq_used(&rx, &head, &len))
			continue;
		uint8_t *buf = (uint8_t *)(RXBUF + (uint64_t)head * BUFSZ);
		uint8_t *fr = buf + HDR;
		if (len >= HDR + 15 + PAYLOAD && fr[12] == 0x88 && fr[13] == 0xb5) {
			if (fr[14] != (uint8_t)got)
				fail("frame out of order, seq", fr[14]);
			if (memcmp(fr, mac, 6))
				fail("frame not addressed to us", fr[5]);
			for (int i = 0; i < PAYLOAD; i++)
				if (fr[15 + i] != pattern_next(&p))
					fail("payload byte", (uint64_t)i);
			got++;
		} else {
			other++;
		}
		vq_free(&rx, head);
		struct vbuf b = { (uint64_t)buf, BUFSZ, true };
		vq_add(&rx, &b, 1, false);
		vq_kick(&rx);
	}
	uart_puts("net guest: received ");
	uart_put_dec(got);
	uart_puts(" frames from the host (");
	uart_put_dec(other);
	uart_puts(" other frames ignored)\nnet guest: ALL OK\n");
	return 0;
}
