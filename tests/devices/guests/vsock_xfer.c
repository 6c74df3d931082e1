/* virtio-vsock driver test: negotiates features (and checks a feature the
 * device did not offer is refused), sets up rx/tx/event queues, then runs
 * two streams at once through joey's hybrid vsock:
 *   A guest → host: REQUEST to CID 2 port 5000, send pattern 1, read pattern 2
 *   B host → guest: accept REQUEST on port 6000, read pattern 3, send pattern 4
 * Every received byte is checked; the host must never exceed the credit the
 * guest advertised, and its fwd_cnt must be monotonic and never exceed what
 * the guest sent. Tx alternates chained and indirect descriptors.
 * Options: bytes=N (default 16 MiB). Exit 0 = all good. */
#include "vsock_hdr.h"

#define TXBUF 0x1200000ull
#define NRX 64
#define NTX 128
#define PKT 4096
#define GUEST_BUF_ALLOC (64u << 10)
#define RXBUF_STRIDE 0x2000

enum { C_IDLE, C_REQ, C_EST, C_CLOSING, C_CLOSED };

struct conn {
	const char *name;
	uint32_t lport, pport;
	int state;
	uint64_t to_send, sent, to_recv, recvd;
	struct pattern txp, rxp;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t rx_cnt, last_fwd_sent;
	bool host_shut;
};

static struct vq rxq, txq, evq;
static bool use_indirect;
static unsigned int sends;

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	vdrv_fail("vsock guest", why, v);
}

/* Sends a header (+ payload from the conn's pattern). false if the ring is full. */
static bool send_pkt(struct conn *c, uint16_t op, uint32_t flags, uint32_t len)
{
	vq_reclaim(&txq);
	/* Alternate chained and indirect descriptors when both are possible.
	 * Decided before the room check: a chained packet needs two
	 * descriptors, and nothing may fail once the pattern has advanced. */
	bool ind = use_indirect && len && (sends & 1);
	unsigned int need = len && !ind ? 2 : 1;
	if (txq.nr_free < need)
		return false;
	sends++;
	uint16_t head = txq.free_head;
	uint64_t slot = TXBUF + (uint64_t)head * 0x2000;
	struct vsock_hdr *h = (struct vsock_hdr *)slot;
	vsock_hdr_init(h, c->lport, c->pport, op, len);
	h->flags = flags;
	h->buf_alloc = GUEST_BUF_ALLOC;
	h->fwd_cnt = c->rx_cnt; /* the guest consumes at once */
	c->last_fwd_sent = c->rx_cnt;
	uint8_t *data = (uint8_t *)(slot + 64);
	for (uint32_t i = 0; i < len; i++)
		data[i] = pattern_next(&c->txp);
	struct vbuf b[2] = { { slot, VSOCK_HDR_LEN, false }, { slot + 64, len, false } };
	if (vq_add(&txq, b, len ? 2 : 1, ind) < 0)
		fail("vq_add refused a packet it had room for", head);
	c->tx_cnt += len;
	vq_kick(&txq);
	return true;
}

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;
	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

static void on_packet(struct conn *a, struct conn *b, const struct vsock_hdr *h, const uint8_t *data)
{
	if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != VSOCK_GUEST_CID)
		fail("bad cids from host, dst", h->dst_cid);
	struct conn *c = h->dst_port == a->lport && h->src_port == a->pport ? a
			 : h->dst_port == b->lport ? b : 0;
	if (!c) {
		if (h->op != VSOCK_OP_RST)
			fail("packet for unknown port", h->dst_port);
		return;
	}
	if (h->op == VSOCK_OP_REQUEST) {
		if (c != b || c->state != C_IDLE)
			fail("unexpected REQUEST on port", h->dst_port);
		c->pport = h->src_port;
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
		c->state = C_EST;
		if (!send_pkt(c, VSOCK_OP_RESPONSE, 0, 0))
			fail("tx ring full for RESPONSE", 0);
		uart_puts("vsock guest: B accepted host connection from port ");
		uart_put_dec(h->src_port);
		uart_putc('\n');
		return;
	}
	if (c == b && h->src_port != b->pport)
		fail("B: wrong peer port", h->src_port);
	/* Credit the host reports: monotonic, never beyond what we sent. An
	 * RST carries none (the connection is gone). */
	if (h->op != VSOCK_OP_RST) {
		if ((uint32_t)(h->fwd_cnt - c->peer_fwd_cnt) > (uint32_t)(c->tx_cnt - c->peer_fwd_cnt))
			fail("host fwd_cnt beyond bytes sent", h->fwd_cnt);
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
	}
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != C_REQ)
			fail("unexpected RESPONSE", c->state);
		c->state = C_EST;
		uart_puts("vsock guest: A connected to host port 5000\n");
		break;
	case VSOCK_OP_RW:
		if (c->state != C_EST && c->state != C_CLOSING)
			fail("data on a closed stream", c->state);
		/* The host may only send what our advertised credit allowed. */
		if (c->rx_cnt + h->len - c->last_fwd_sent > GUEST_BUF_ALLOC)
			fail("host exceeded guest credit by", c->rx_cnt + h->len - c->last_fwd_sent);
		if (c->recvd + h->len > c->to_recv)
			fail("more data than expected", c->recvd + h->len);
		for (uint32_t i = 0; i < h->len; i++)
			if (data[i] != pattern_next(&c->rxp))
				fail("wrong byte at offset", c->recvd + i);
		c->recvd += h->len;
		c->rx_cnt += h->len;
		break;
	case VSOCK_OP_SHUTDOWN:
		c->host_shut = true;
		break;
	case VSOCK_OP_RST:
		if (c->state != C_CLOSING)
			fail("RST before the stream finished, state", c->state);
		c->state = C_CLOSED;
		uart_puts("vsock guest: ");
		uart_puts(c->name);
		uart_puts(" closed after ");
		uart_put_dec(c->recvd);
		uart_puts(" bytes in, ");
		uart_put_dec(c->sent);
		uart_puts(" out\n");
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		send_pkt(c, VSOCK_OP_CREDIT_UPDATE, 0, 0);
		break;
	default:
		break;
	}
}

static void pump(struct conn *c)
{
	if (c->state != C_EST)
		return;
	while (c->sent < c->to_send) {
		uint32_t n = PKT, cr = peer_credit(c);
		if (c->to_send - c->sent < n)
			n = (uint32_t)(c->to_send - c->sent);
		if (cr < n)
			n = cr;
		if (!n || !send_pkt(c, VSOCK_OP_RW, 0, n))
			break;
		c->sent += n;
	}
	/* Our window: tell the host when half of it was consumed. */
	if (c->rx_cnt - c->last_fwd_sent >= GUEST_BUF_ALLOC / 2)
		send_pkt(c, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	if (c->sent == c->to_send && c->recvd == c->to_recv && send_pkt(c, VSOCK_OP_SHUTDOWN, 3, 0))
		c->state = C_CLOSING;
}

int guest_main(void)
{
	uint64_t bytes = guest_opt("bytes", 16u << 20);
	uint64_t base = vdrv_find(VSOCK_DEVICE_ID, 0);
	if (!base)
		fail("no virtio-vsock device on the command line", 0);
	uint64_t offered = vdrv_features(base);
	if (!(offered & (1ull << VDRV_F_VERSION_1)))
		fail("VERSION_1 not offered", offered);
	/* A feature the device did not offer must make FEATURES_OK fail. */
	if (vdrv_negotiate(base, (1ull << VDRV_F_VERSION_1) | (1ull << 40)) != ~0ull)
		fail("device accepted an unoffered feature", 40);
	uint64_t want = (1ull << VDRV_F_VERSION_1) | (1ull << VDRV_F_EVENT_IDX) |
			(1ull << VDRV_F_INDIRECT);
	uint64_t f = vdrv_negotiate(base, want & offered);
	if (f == ~0ull)
		fail("FEATURES_OK refused", offered);
	use_indirect = f & (1ull << VDRV_F_INDIRECT);
	uint64_t cid = (uint64_t)vdrv_read(base, 0x100) | ((uint64_t)vdrv_read(base, 0x104) << 32);
	if (cid != VSOCK_GUEST_CID)
		fail("config guest_cid", cid);
	if (vsock_queues(base, &rxq, NRX, &txq, NTX, &evq))
		fail("queue setup", 0);
	vdrv_driver_ok(base);
	if (!(vdrv_read(base, 0x070) & VDRV_STATUS_DRIVER_OK))
		fail("DRIVER_OK not set", vdrv_read(base, 0x070));
	uart_puts("vsock guest: features negotiated ");
	uart_put_hex(f);
	uart_putc('\n');
	vsock_rx_post(&rxq, NRX, RXBUF_STRIDE, VSOCK_HDR_LEN + PKT);

	struct conn a = { .name = "A", .lport = 1234, .pport = 5000, .to_send = bytes,
			  .to_recv = bytes };
	struct conn b = { .name = "B", .lport = 6000, .to_send = bytes, .to_recv = bytes };
	pattern_init(&a.txp, 1);
	pattern_init(&a.rxp, 2);
	pattern_init(&b.rxp, 3);
	pattern_init(&b.txp, 4);
	a.state = C_REQ;
	if (!send_pkt(&a, VSOCK_OP_REQUEST, 0, 0))
		fail("tx ring full", 0);
	while (a.state != C_CLOSED || b.state != C_CLOSED) {
		uint16_t head;
		uint32_t len;
		bool refill = false;
		while (vq_used(&rxq, &head, &len)) {
			uint64_t buf = VSOCK_RXBUF + (uint64_t)head * RXBUF_STRIDE;
			const struct vsock_hdr *h = (const struct vsock_hdr *)buf;
			if (len < VSOCK_HDR_LEN || h->len > len - VSOCK_HDR_LEN)
				fail("rx used length", len);
			on_packet(&a, &b, h, (const uint8_t *)(buf + VSOCK_HDR_LEN));
			vq_free(&rxq, head);
			vsock_rx_add(&rxq, head, RXBUF_STRIDE, VSOCK_HDR_LEN + PKT);
			refill = true;
		}
		if (refill)
			vq_kick(&rxq);
		pump(&a);
		pump(&b);
		cpu_relax();
	}
	uart_puts("vsock guest: ALL OK\n");
	return 0;
}
