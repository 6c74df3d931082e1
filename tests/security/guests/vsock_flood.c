/* A hostile vsock guest for the per-VM buffer bound (docs/security.md G5):
 * it opens conns= connections (default 512, the device's cap) to host port
 * port= (default 7000), plus extra= more (default 16) beyond the cap, and
 * fills every accepted connection's credit with data the host never reads.
 *
 * To reach the cap it starves the device of rx buffers first: a device with
 * nowhere to deliver packets does not poll its host sockets, so each
 * connection costs the host a socket and, once that socket is full, a
 * pending-data ring, but no event-loop slot.
 *   1. REQUEST on conn 0 alone: the device finds the rx queue empty.
 *   2. REQUEST on every other conn, then the host's advertised credit
 *      (256 KiB) of data on each accepted conn, without waiting for replies.
 *   3. Post rx buffers, read the queued RESPONSEs (whose fwd_cnt says what
 *      the host socket took), RSTs and credit updates; then send each conn
 *      exactly the credit it has left, and again after a CREDIT_REQUEST
 *      round while the host sockets still take bytes, so the device ends
 *      up holding a full ring per conn. Each CREDIT_REQUEST is answered,
 *      even those whose conn had a credit update due while the device's
 *      control queue was full in step 2 (counted when not).
 *   4. Idle: keep taking control packets, count a heartbeat.
 * With polite=1 it posts rx buffers first and only opens connections (steps
 * 2 and 4 without data): a device that can deliver packets polls each host
 * socket with its event loop, which has room for every conn up to the cap.
 * The mailbox (GUEST_MAILBOX, u64 words) reports to the host:
 *   [0] heartbeat  [1] RESPONSEs  [2] RSTs on conns within the cap
 *   [3] RSTs beyond the cap  [4] payload bytes the device took  [5] phase
 *   [6] other packets  [7] conns fully credited  [8] conns open (RESPONSE,
 *   no RST)  [9] CREDIT_REQUESTs never answered
 * Payload is never written: every RW points at the same untouched 64 KiB,
 * so the guest's per-packet work is a header and a descriptor. */
#include "../../devices/guests/lib/vsock_hdr.h"

#define TXHDR 0x1200000ull
#define PAYLOAD 0x1300000ull
#define NRX 64
#define NTX 256
#define PKT (64u << 10)
#define RXBUF_SIZE 256
#define LPORT_BASE 20000
#define MAX_CONNS 1024
#define SPINS 20000000ull

enum { C_REQ, C_EST, C_RST };
enum { M_BEAT, M_RESP, M_RST_IN, M_RST_OUT, M_BYTES, M_PHASE, M_OTHER, M_FULL, M_LIVE,
       M_UNANSWERED };

struct conn {
	uint8_t state;
	bool heard, asked;
	uint32_t tx_cnt, peer_fwd, peer_buf;
};

static struct vq rxq, txq, evq;
static struct conn conns[MAX_CONNS];
static unsigned int n_conns, n_cap, n_heard, n_asked;
static uint32_t host_port;
static volatile uint64_t *const mbox = (volatile uint64_t *)GUEST_MAILBOX;

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	vdrv_fail("vsock flood", why, v);
}

/* Queues one packet on conn i (kicking and waiting while the ring is full). */
static void send_pkt(unsigned int i, uint16_t op, uint32_t len)
{
	uint64_t spins = 0;

	vq_reclaim(&txq);
	while (txq.nr_free < 2) {
		vq_kick(&txq);
		vq_reclaim(&txq);
		if (++spins == SPINS)
			fail("tx ring never drained, conn", i);
	}
	uint64_t slot = TXHDR + (uint64_t)txq.free_head * 64;
	struct vsock_hdr *h = (struct vsock_hdr *)slot;
	vsock_hdr_init(h, LPORT_BASE + i, host_port, op, len);
	h->buf_alloc = 64u << 10; /* fwd_cnt stays 0: the host never sends data */
	struct vbuf b[2] = { { slot, VSOCK_HDR_LEN, false }, { PAYLOAD, len, false } };
	if (vq_add(&txq, b, len ? 2 : 1, false) < 0)
		fail("vq_add, conn", i);
	conns[i].tx_cnt += len;
	if (op == VSOCK_OP_RW)
		mbox[M_BYTES] += len;
}

static void on_packet(const struct vsock_hdr *h)
{
	unsigned int i = h->dst_port - LPORT_BASE;

	if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != VSOCK_GUEST_CID || h->src_port != host_port ||
	    h->dst_port < LPORT_BASE || i >= n_conns) {
		mbox[M_OTHER]++;
		return;
	}
	struct conn *c = &conns[i];
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != C_REQ)
			fail("RESPONSE twice, conn", i);
		c->state = C_EST;
		mbox[M_RESP]++;
		mbox[M_LIVE]++;
		break;
	case VSOCK_OP_RST:
		if (c->state != C_RST)
			mbox[i < n_cap ? M_RST_IN : M_RST_OUT]++;
		if (c->state == C_EST)
			mbox[M_LIVE]--;
		c->state = C_RST;
		if (c->asked) {
			c->asked = false;
			n_asked--;
		}
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		if (c->asked) {
			c->asked = false;
			n_asked--;
		}
		break;
	default:
		mbox[M_OTHER]++;
		return;
	}
	if (!c->heard) {
		c->heard = true;
		n_heard++;
	}
	if (h->op == VSOCK_OP_RST)
		return;
	/* Credit is monotonic: an older update never lowers what we know. */
	if ((uint32_t)(h->fwd_cnt - c->peer_fwd) <= (uint32_t)(c->tx_cnt - c->peer_fwd))
		c->peer_fwd = h->fwd_cnt;
	else
		fail("host fwd_cnt beyond bytes sent, conn", i);
	c->peer_buf = h->buf_alloc;
}

/* Takes every used rx buffer, hands it back, kicks once. */
static unsigned int poll_rx(void)
{
	uint16_t head;
	uint32_t len;
	unsigned int n = 0;

	while (vq_used(&rxq, &head, &len)) {
		uint64_t buf = VSOCK_RXBUF + (uint64_t)head * RXBUF_SIZE;
		if (len < VSOCK_HDR_LEN)
			fail("rx used length", len);
		on_packet((const struct vsock_hdr *)buf);
		vq_free(&rxq, head);
		vsock_rx_add(&rxq, head, RXBUF_SIZE, RXBUF_SIZE);
		n++;
	}
	if (n)
		vq_kick(&rxq);
	return n;
}

static void post_rx(void)
{
	vsock_rx_post(&rxq, NRX, RXBUF_SIZE, RXBUF_SIZE);
}

/* Until every conn had its RESPONSE or RST. */
static void wait_heard(void)
{
	for (uint64_t spins = 0; n_heard < n_conns; spins++) {
		poll_rx();
		if (spins == SPINS)
			fail("conns never answered: heard", n_heard);
	}
}

/* Sends every established conn the credit it has left; the bytes sent.
 * Returns once the device has taken them all. */
static uint64_t fill_credit(void)
{
	uint64_t sent = 0, spins;

	for (unsigned int i = 0; i < n_cap; i++) {
		struct conn *c = &conns[i];
		uint32_t in_flight = c->tx_cnt - c->peer_fwd;

		if (c->state != C_EST)
			continue;
		while (in_flight < c->peer_buf) {
			uint32_t n = c->peer_buf - in_flight < PKT ? c->peer_buf - in_flight : PKT;
			send_pkt(i, VSOCK_OP_RW, n);
			in_flight += n;
			sent += n;
			poll_rx();
		}
		vq_kick(&txq);
	}
	for (spins = 0; txq.nr_free < NTX; spins++) {
		vq_reclaim(&txq);
		if (spins == SPINS)
			fail("tx never consumed", txq.nr_free);
	}
	return sent;
}

/* Steps 1 to 3 (see the top). */
static void flood(void)
{
	uint64_t spins;

	/* 1: one REQUEST alone, so the device meets the empty rx queue. */
	uart_puts("vsock flood: starving rx, opening connections\n");
	mbox[M_PHASE] = 1;
	send_pkt(0, VSOCK_OP_REQUEST, 0);
	vq_kick(&txq);
	for (spins = 0; txq.nr_free < NTX; spins++) {
		vq_reclaim(&txq);
		if (spins == SPINS)
			fail("first REQUEST never consumed", 0);
	}
	/* 2: every other REQUEST, then each accepted conn's whole credit. */
	for (unsigned int i = 1; i < n_conns; i++) {
		send_pkt(i, VSOCK_OP_REQUEST, 0);
		if (i % 64 == 0)
			vq_kick(&txq);
	}
	for (unsigned int i = 0; i < n_cap; i++) {
		for (unsigned int k = 0; k < 4; k++)
			send_pkt(i, VSOCK_OP_RW, PKT);
		vq_kick(&txq);
	}
	mbox[M_PHASE] = 2;
	uart_puts("vsock flood: data queued, reading replies\n");

	/* 3: replies, then the rest of each conn's credit; then ask each conn
	 * for a fresh count and fill again, until the host sockets take no
	 * more (a host with bigger socket buffers needs more rounds). */
	post_rx();
	wait_heard();
	for (unsigned int round = 0; round < 8 && fill_credit(); round++) {
		for (unsigned int i = 0; i < n_cap; i++)
			if (conns[i].state == C_EST) {
				conns[i].asked = true;
				n_asked++;
				send_pkt(i, VSOCK_OP_CREDIT_REQUEST, 0);
			}
		vq_kick(&txq);
		/* The device owes each conn its answer until an rx buffer
		 * takes it, so every one comes; count those that do not, and
		 * go on without them. */
		for (spins = 0; n_asked && spins < SPINS; spins++)
			poll_rx();
		mbox[M_UNANSWERED] += n_asked;
		for (unsigned int i = 0; i < n_cap; i++)
			conns[i].asked = false;
		n_asked = 0;
	}
	for (unsigned int i = 0; i < n_cap; i++)
		if (conns[i].state == C_EST && conns[i].tx_cnt - conns[i].peer_fwd == conns[i].peer_buf)
			mbox[M_FULL]++;
	mbox[M_PHASE] = 3;
	uart_puts("vsock flood: every accepted conn holds its full credit\n");
}

int guest_main(void)
{
	uint64_t base = vdrv_find(VSOCK_DEVICE_ID, 0);

	n_cap = (unsigned int)guest_opt("conns", 512);
	n_conns = n_cap + (unsigned int)guest_opt("extra", 16);
	host_port = (uint32_t)guest_opt("port", 7000);
	if (n_conns > MAX_CONNS)
		fail("too many conns", n_conns);
	if (!base)
		fail("no virtio-vsock device on the command line", 0);
	if (vdrv_negotiate(base, 1ull << VDRV_F_VERSION_1) == ~0ull)
		fail("FEATURES_OK refused", 0);
	if (vsock_queues(base, &rxq, NRX, &txq, NTX, &evq))
		fail("queue setup", 0);
	vdrv_driver_ok(base);

	if (guest_opt("polite", 0)) {
		post_rx();
		for (unsigned int i = 0; i < n_conns; i++) {
			send_pkt(i, VSOCK_OP_REQUEST, 0);
			vq_kick(&txq);
			poll_rx();
		}
		wait_heard();
		mbox[M_PHASE] = 3;
		uart_puts("vsock flood: polite: every conn answered\n");
	} else {
		flood();
	}
	/* 4: idle, still answering the device. */
	for (;;) {
		poll_rx();
		mbox[M_BEAT]++;
	}
}
