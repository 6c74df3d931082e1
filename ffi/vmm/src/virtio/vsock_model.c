#include "vsock_model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_ALLOC (256u << 10) /* what each connection lets the guest send ahead */
/* REQUEST, RESPONSE, SHUTDOWN and RST packets waiting for rx buffers. A live
 * connection has at most two here (its REQUEST or RESPONSE, its SHUTDOWN):
 * 1024 for VSOCK_MAX_CONNS; RSTs share the rest. Credit updates are not
 * queued here but owed by their connection (owed_next). */
#define CTL_QUEUE 1024
#define TX_BUDGET 256          /* chains per turn before yielding the loop */
#define RX_BUDGET 16           /* packets per connection per turn */
#define HOST_PORT_FIRST (1u << 30)
#define LINE_MAX_LEN 32

enum conn_state {
	CONN_HANDSHAKE,  /* host socket accepted, waiting for "CONNECT <port>\n" */
	CONN_CONNECTING, /* REQUEST queued to the guest, waiting for RESPONSE */
	CONN_ESTABLISHED,
};

struct vsock_conn {
	struct vsock_model *m;
	struct vsock_conn *next;
	int fd;
	enum conn_state state;
	uint32_t local_port, peer_port;
	/* Credit (§5.10.6.3): the guest's window, and ours. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t rx_cnt, fwd_cnt, last_fwd_sent;
	/* Guest bytes the host socket has not taken yet: a ring of BUF_ALLOC. */
	uint8_t *pend;
	uint32_t pend_head, pend_len;
	char line[LINE_MAX_LEN];
	uint32_t line_len;
	bool host_eof, guest_shut_send, guest_shut_rcv;
	/* A CREDIT_UPDATE is owed: the connection waits in the model's FIFO
	 * of owed updates (owed_next) until an rx buffer takes it. One per
	 * connection at most, so the debt is bounded and never dropped. */
	bool credit_owed;
	struct vsock_conn *owed_next;
	/* The guest closed both ways with bytes still pending for the host:
	 * they are written first, then the RST that ends the close goes out. */
	bool closing;
	bool registered;
	uint32_t events;
};

struct ctl_pkt {
	uint32_t local_port, peer_port;
	uint16_t op;
	uint32_t flags;
};

struct vsock_model {
	struct vsock_env env;
	uint64_t cid;
	char uds[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, self_fd;
	struct vsock_conn *conns;
	unsigned int nr_conns;
	uint32_t next_port;
	struct ctl_pkt ctl[CTL_QUEUE];
	unsigned int ctl_head, ctl_len;
	struct vsock_conn *owed_head, *owed_tail;
	bool rx_starved, rx_pushed, tx_pushed, broken;
	struct vsock_stats stats;
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* x86-64 and every host joey targets are little-endian, like the wire. */
void vsock_hdr__decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
	h->src_cid = get64(raw);
	h->dst_cid = get64(raw + 8);
	h->src_port = get32(raw + 16);
	h->dst_port = get32(raw + 20);
	h->len = get32(raw + 24);
	h->type = get16(raw + 28);
	h->op = get16(raw + 30);
	h->flags = get32(raw + 32);
	h->buf_alloc = get32(raw + 36);
	h->fwd_cnt = get32(raw + 40);
}

void vsock_hdr__encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
	put64(raw, h->src_cid);
	put64(raw + 8, h->dst_cid);
	put32(raw + 16, h->src_port);
	put32(raw + 20, h->dst_port);
	put32(raw + 24, h->len);
	put16(raw + 28, h->type);
	put16(raw + 30, h->op);
	put32(raw + 32, h->flags);
	put32(raw + 36, h->buf_alloc);
	put32(raw + 40, h->fwd_cnt);
}

int vsock_pkt__parse(const struct vq_chain *c, const struct guest_mem *gm, struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	if (c->out_len < VSOCK_HDR_SIZE || c->nr_in)
		return -EINVAL;
	if (vq_chain__read(c, gm, 0, raw, sizeof(raw)) != VSOCK_HDR_SIZE)
		return -EINVAL;
	vsock_hdr__decode(raw, h);
	if (h->len > VSOCK_MAX_PKT || h->len > c->out_len - VSOCK_HDR_SIZE)
		return -EINVAL;
	if (h->op != VSOCK_OP_RW && h->len)
		return -EINVAL;
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		return -EINVAL;
	return 0;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void conn_read(void *opaque, uint32_t events);
static void conn_reset(struct vsock_conn *c);

static void model_note(struct vsock_model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A host-side failure that cost one connection (not the guest's doing, so
 * the device keeps running): told to the transport for its log. */
static void model_note(struct vsock_model *m, const char *fmt, ...)
{
	char text[160];
	va_list ap;
	if (!m->env.note)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m->env.note(m->env.opaque, text);
}

/* Keeps the fd's epoll interest in step with what the connection can do.
 * A socket with nothing to wait for leaves the loop altogether, so that a
 * hang-up cannot make the loop spin. A socket the loop will not take back
 * (no slot, no memory) would stall its stream unseen: the connection is
 * reset instead, noted, and freed. Returns 0, or -1 when c is gone. */
static int conn_update(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	uint32_t ev = 0;
	int r = 0;
	if (c->state == CONN_HANDSHAKE)
		ev |= EPOLLIN;
	else if (c->state == CONN_ESTABLISHED && !c->host_eof && !c->guest_shut_rcv &&
		 peer_credit(c) && !m->rx_starved)
		ev |= EPOLLIN;
	if (c->pend_len)
		ev |= EPOLLOUT;
	if (ev == c->events && c->registered == !!ev)
		return 0;
	if (!ev) {
		if (c->registered)
			m->env.loop_del(m->env.opaque, c->fd);
		c->registered = false;
	} else if (!c->registered) {
		r = m->env.loop_add(m->env.opaque, c->fd, ev, conn_read, c);
		c->registered = !r;
	} else {
		r = m->env.loop_mod(m->env.opaque, c->fd, ev);
	}
	if (r) {
		m->stats.loop_refused++;
		model_note(m, "vsock: connection %u -> %u reset: the event loop would not watch "
			   "its socket (%s)", c->peer_port, c->local_port, strerror(-r));
		conn_reset(c);
		return -1;
	}
	c->events = ev;
	return 0;
}

/* conn_update for every connection (one may be freed on the way). */
static void conns_update(struct vsock_model *m)
{
	struct vsock_conn *c = m->conns, *next;
	for (; c; c = next) {
		next = c->next;
		conn_update(c);
	}
}

static struct vsock_conn *conn_find(struct vsock_model *m, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = m->conns; c; c = c->next)
		if (c->local_port == local && c->peer_port == peer && c->state != CONN_HANDSHAKE)
			return c;
	return NULL;
}

static struct vsock_conn *conn_new(struct vsock_model *m, int fd, enum conn_state st)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->m = m;
	c->fd = fd;
	c->state = st;
	c->next = m->conns;
	m->conns = c;
	m->nr_conns++;
	m->stats.conns_opened++;
	return c;
}

/* Owes the guest a CREDIT_UPDATE (once: a second debt adds nothing, the
 * update carries the counts current when it goes out). */
static void credit_owe(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	if (c->credit_owed)
		return;
	c->credit_owed = true;
	c->owed_next = NULL;
	if (m->owed_tail)
		m->owed_tail->owed_next = c;
	else
		m->owed_head = c;
	m->owed_tail = c;
}

static void credit_unlink(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	struct vsock_conn *prev = NULL;
	if (!c->credit_owed)
		return;
	for (struct vsock_conn *o = m->owed_head; o; prev = o, o = o->owed_next)
		if (o == c) {
			if (prev)
				prev->owed_next = c->owed_next;
			else
				m->owed_head = c->owed_next;
			if (m->owed_tail == c)
				m->owed_tail = prev;
			break;
		}
	c->credit_owed = false;
}

static void conn_free(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	for (struct vsock_conn **pp = &m->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	credit_unlink(c);
	if (c->registered)
		m->env.loop_del(m->env.opaque, c->fd);
	close(c->fd);
	free(c->pend);
	free(c);
	m->nr_conns--;
	m->stats.conns_closed++;
}

static void ctl_queue(struct vsock_model *m, uint32_t local, uint32_t peer, uint16_t op,
		      uint32_t flags)
{
	/* A guest that posts no rx buffers cannot make this grow: past the
	 * bound, control packets are dropped (the guest times out). Only a
	 * guest that also floods RST-worthy packets gets there: live
	 * connections alone fill at most the whole ring. */
	if (m->ctl_len == CTL_QUEUE)
		return;
	struct ctl_pkt *p = &m->ctl[(m->ctl_head + m->ctl_len++) % CTL_QUEUE];
	p->local_port = local;
	p->peer_port = peer;
	p->op = op;
	p->flags = flags;
	if (op == VSOCK_OP_RST)
		m->stats.rst_sent++;
}

static void fill_hdr(struct vsock_model *m, struct vsock_conn *c, uint32_t local, uint32_t peer,
		     uint16_t op, uint32_t flags, uint32_t len, struct vsock_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = m->cid;
	h->src_port = local;
	h->dst_port = peer;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->flags = flags;
	h->len = len;
	if (c) {
		h->buf_alloc = BUF_ALLOC;
		h->fwd_cnt = c->fwd_cnt;
		c->last_fwd_sent = c->fwd_cnt;
	}
}

static void model_error(struct vsock_model *m, const char *what)
{
	m->broken = true;
	m->env.error(m->env.opaque, what);
}

static void queue_error(struct vsock_model *m, struct virtq *vq, const char *name)
{
	char text[160];
	snprintf(text, sizeof(text), "%s queue: %s", name, virtq__error_text(vq->error));
	model_error(m, text);
}

/* Takes an rx buffer big enough for a header; -1 when the queue is empty. */
static int rx_pop(struct vsock_model *m, struct vq_chain *ch)
{
	for (;;) {
		int r = virtq__pop(m->env.rxq, m->env.gm, ch);
		if (r < 0) {
			queue_error(m, m->env.rxq, "rx");
			return -1;
		}
		if (r == 0) {
			m->rx_starved = true;
			return -1;
		}
		if (ch->in_len >= VSOCK_HDR_SIZE && !ch->nr_out)
			return 0;
		/* A buffer that cannot hold a header is useless: hand it back. */
		m->stats.bad_packets++;
		virtq__push(m->env.rxq, m->env.gm, ch->head, 0);
		m->rx_pushed = true;
	}
}

static void rx_publish(struct vsock_model *m, struct vq_chain *ch, const struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr__encode(h, raw);
	vq_chain__write(ch, m->env.gm, 0, raw, sizeof(raw));
	virtq__push(m->env.rxq, m->env.gm, ch->head, VSOCK_HDR_SIZE + h->len);
	m->rx_pushed = true;
}

static void flush_notify(struct vsock_model *m)
{
	if (m->rx_pushed && virtq__should_notify(m->env.rxq, m->env.gm))
		m->env.notify(m->env.opaque, 0);
	if (m->tx_pushed && virtq__should_notify(m->env.txq, m->env.gm))
		m->env.notify(m->env.opaque, 1);
	m->rx_pushed = m->tx_pushed = false;
}

/* Queued control packets first, then owed credit updates (after the
 * REQUEST or RESPONSE that opens their stream), oldest first. */
static void ctl_flush(struct vsock_model *m)
{
	struct vq_chain ch;
	struct vsock_hdr h;
	while (m->ctl_len && !m->broken) {
		struct ctl_pkt *p = &m->ctl[m->ctl_head];
		struct vsock_conn *c = conn_find(m, p->local_port, p->peer_port);
		/* A SHUTDOWN queued for a connection that has since been reset
		 * would carry no credit (zeros): its RST says all there is to
		 * say. */
		bool stale = !c && p->op != VSOCK_OP_RST;
		if (!stale && rx_pop(m, &ch))
			return;
		m->ctl_head = (m->ctl_head + 1) % CTL_QUEUE;
		m->ctl_len--;
		if (stale)
			continue;
		fill_hdr(m, p->op == VSOCK_OP_RST ? NULL : c, p->local_port, p->peer_port, p->op,
			 p->flags, 0, &h);
		rx_publish(m, &ch, &h);
	}
	while (m->owed_head && !m->broken && !rx_pop(m, &ch)) {
		struct vsock_conn *c = m->owed_head;
		credit_unlink(c);
		fill_hdr(m, c, c->local_port, c->peer_port, VSOCK_OP_CREDIT_UPDATE, 0, 0, &h);
		rx_publish(m, &ch, &h);
	}
}

/* Control before data, so that no data overtakes its stream's RESPONSE. */
static bool ctl_pending(const struct vsock_model *m)
{
	return m->ctl_len || m->owed_head;
}

static void conn_reset(struct vsock_conn *c)
{
	if (c->state != CONN_HANDSHAKE)
		ctl_queue(c->m, c->local_port, c->peer_port, VSOCK_OP_RST, 0);
	conn_free(c);
}

/* Our window moved: tell the guest before it runs dry (Linux senders wait
 * for the receiver's update rather than asking). */
static void maybe_credit_update(struct vsock_conn *c)
{
	if (c->fwd_cnt - c->last_fwd_sent >= BUF_ALLOC / 4)
		credit_owe(c);
}

static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
	return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Writes the pending ring to the host socket. 0, or -1 if the host is gone. */
static int pend_flush(struct vsock_conn *c)
{
	while (c->pend_len) {
		struct iovec iov[2];
		uint32_t first = BUF_ALLOC - c->pend_head;
		int n = 1;
		iov[0].iov_base = c->pend + c->pend_head;
		iov[0].iov_len = c->pend_len < first ? c->pend_len : first;
		if (c->pend_len > first) {
			iov[1].iov_base = c->pend;
			iov[1].iov_len = c->pend_len - first;
			n = 2;
		}
		ssize_t w = send_iov(c->fd, iov, n);
		if (w < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		c->pend_head = (c->pend_head + (uint32_t)w) % BUF_ALLOC;
		c->pend_len -= (uint32_t)w;
		c->fwd_cnt += (uint32_t)w;
		c->m->stats.bytes_to_host += (uint64_t)w;
	}
	if (c->guest_shut_send)
		shutdown(c->fd, SHUT_WR);
	return 0;
}

static void conn_after_guest_shutdown(struct vsock_conn *c)
{
	if (c->guest_shut_send && !c->pend_len)
		shutdown(c->fd, SHUT_WR);
	if (c->guest_shut_send && c->guest_shut_rcv) {
		/* Full close from the guest: the receiving side answers RST
		 * (what Linux expects to finish its close), once every byte the
		 * guest sent reached the host socket; conn_read finishes a
		 * close that has to wait for the host to read. */
		if (pend_flush(c) || !c->pend_len) {
			conn_reset(c);
			return;
		}
		c->closing = true;
	}
	conn_update(c);
}

static int rw_to_host(struct vsock_model *m, struct vsock_conn *c, const struct vq_chain *ch,
		      uint32_t len)
{
	struct iovec iov[32];
	uint32_t done = 0;
	if (c->rx_cnt - c->fwd_cnt + len > BUF_ALLOC) {
		m->stats.credit_violations++;
		return -1;
	}
	c->rx_cnt += len;
	if (!c->pend_len) {
		int n = vq_chain__iov(ch, m->env.gm, false, VSOCK_HDR_SIZE, len, iov, 32);
		if (n > 0) {
			ssize_t w = send_iov(c->fd, iov, n);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (w > 0) {
				done = (uint32_t)w;
				c->fwd_cnt += done;
				m->stats.bytes_to_host += done;
			}
		}
	}
	if (done < len) {
		if (!c->pend && !(c->pend = malloc(BUF_ALLOC)))
			return -1;
		/* Fits: in-flight bytes never exceed BUF_ALLOC (checked above). */
		while (done < len) {
			uint32_t tail = (c->pend_head + c->pend_len) % BUF_ALLOC;
			uint32_t room = BUF_ALLOC - tail;
			uint32_t step = len - done < room ? len - done : room;
			if (vq_chain__read(ch, m->env.gm, VSOCK_HDR_SIZE + done, c->pend + tail, step) !=
			    (long)step)
				return -1;
			c->pend_len += step;
			done += step;
		}
	}
	maybe_credit_update(c);
	return 0;
}

static int connect_host(struct vsock_model *m, uint32_t port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", m->uds, port) >=
	    (int)sizeof(a.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void tx_packet(struct vsock_model *m, const struct vq_chain *ch)
{
	struct vsock_hdr h;
	if (vsock_pkt__parse(ch, m->env.gm, &h) || h.src_cid != m->cid ||
	    h.dst_cid != VSOCK_HOST_CID) {
		m->stats.bad_packets++;
		return;
	}
	if (h.type != VSOCK_TYPE_STREAM) {
		if (h.op != VSOCK_OP_RST)
			ctl_queue(m, h.dst_port, h.src_port, VSOCK_OP_RST, 0);
		return;
	}
	struct vsock_conn *c = conn_find(m, h.dst_port, h.src_port);
	if (h.op == VSOCK_OP_REQUEST) {
		int fd = -1;
		if (c || m->nr_conns >= VSOCK_MAX_CONNS || (fd = connect_host(m, h.dst_port)) < 0 ||
		    !(c = conn_new(m, fd, CONN_ESTABLISHED))) {
			if (fd >= 0)
				close(fd);
			ctl_queue(m, h.dst_port, h.src_port, VSOCK_OP_RST, 0);
			return;
		}
		c->local_port = h.dst_port;
		c->peer_port = h.src_port;
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		ctl_queue(m, c->local_port, c->peer_port, VSOCK_OP_RESPONSE, 0);
		conn_update(c); /* the loop is full: RST follows the RESPONSE */
		return;
	}
	if (!c) {
		if (h.op != VSOCK_OP_RST)
			ctl_queue(m, h.dst_port, h.src_port, VSOCK_OP_RST, 0);
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case VSOCK_OP_RESPONSE: {
		char ok[32];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (c->state != CONN_CONNECTING || send(c->fd, ok, (size_t)n, MSG_NOSIGNAL) != n) {
			conn_reset(c);
			return;
		}
		c->state = CONN_ESTABLISHED;
		break;
	}
	case VSOCK_OP_RST:
		conn_free(c);
		return;
	case VSOCK_OP_SHUTDOWN:
		c->guest_shut_rcv |= !!(h.flags & VSOCK_SHUTDOWN_RCV);
		c->guest_shut_send |= !!(h.flags & VSOCK_SHUTDOWN_SEND);
		conn_after_guest_shutdown(c);
		return;
	case VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->guest_shut_send ||
		    rw_to_host(m, c, ch, h.len)) {
			conn_reset(c);
			return;
		}
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		credit_owe(c);
		break;
	default: /* CREDIT_UPDATE: the header fields above were the point */
		break;
	}
	conn_update(c);
}

void vsock_model__kick_tx(struct vsock_model *m)
{
	struct vq_chain ch;
	unsigned int budget = TX_BUDGET;
	while (!m->broken && budget--) {
		int r = virtq__pop(m->env.txq, m->env.gm, &ch);
		if (r < 0) {
			queue_error(m, m->env.txq, "tx");
			break;
		}
		if (!r)
			break;
		tx_packet(m, &ch);
		virtq__push(m->env.txq, m->env.gm, ch.head, 0);
		m->tx_pushed = true;
	}
	/* Out of budget with work left: come back after other fds had a turn. */
	if (budget == (unsigned int)-1 && !m->broken) {
		uint64_t one = 1;
		if (write(m->self_fd, &one, sizeof(one)) < 0)
			(void)0;
	}
	ctl_flush(m);
	flush_notify(m);
}

void vsock_model__kick_rx(struct vsock_model *m)
{
	m->rx_starved = false;
	ctl_flush(m);
	conns_update(m);
	ctl_flush(m); /* the RSTs of connections the loop refused */
	flush_notify(m);
}

/* Host → guest data: the socket is read straight into the guest's buffer. */
static void conn_to_guest(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	struct vq_chain ch;
	struct iovec iov[32];
	for (int i = 0; i < RX_BUDGET && !m->broken; i++) {
		uint32_t credit = peer_credit(c);
		if (!credit || c->host_eof || ctl_pending(m))
			break;
		if (rx_pop(m, &ch))
			break;
		uint32_t cap = ch.in_len - VSOCK_HDR_SIZE;
		if (cap > credit)
			cap = credit;
		if (cap > VSOCK_MAX_PKT)
			cap = VSOCK_MAX_PKT;
		int n = cap ? vq_chain__iov(&ch, m->env.gm, true, VSOCK_HDR_SIZE, cap, iov, 32) : 0;
		if (n <= 0) {
			virtq__unpop(m->env.rxq);
			break;
		}
		ssize_t r = readv(c->fd, iov, n);
		if (r <= 0) {
			virtq__unpop(m->env.rxq);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			/* EOF or error: the host will send no more. */
			c->host_eof = true;
			ctl_queue(m, c->local_port, c->peer_port, VSOCK_OP_SHUTDOWN,
				  r == 0 ? VSOCK_SHUTDOWN_SEND : VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV);
			break;
		}
		struct vsock_hdr h;
		fill_hdr(m, c, c->local_port, c->peer_port, VSOCK_OP_RW, 0, (uint32_t)r, &h);
		rx_publish(m, &ch, &h);
		c->tx_cnt += (uint32_t)r;
		m->stats.bytes_to_guest += (uint64_t)r;
	}
}

/* "CONNECT <port>\n", either case, read a byte at a time so that no data
 * after the line is consumed. */
static void conn_handshake(struct vsock_conn *c)
{
	struct vsock_model *m = c->m;
	for (;;) {
		char ch;
		ssize_t r = read(c->fd, &ch, 1);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0 || c->line_len + 1 >= LINE_MAX_LEN) {
			conn_free(c);
			return;
		}
		if (ch != '\n') {
			c->line[c->line_len++] = ch;
			continue;
		}
		c->line[c->line_len] = 0;
		char *end;
		if (strncasecmp(c->line, "connect ", 8) || !c->line[8]) {
			conn_free(c);
			return;
		}
		unsigned long port = strtoul(c->line + 8, &end, 10);
		if (*end || port > UINT32_MAX) {
			conn_free(c);
			return;
		}
		uint32_t local = m->next_port;
		while (conn_find(m, local, (uint32_t)port))
			local++;
		m->next_port = local + 1 < HOST_PORT_FIRST ? HOST_PORT_FIRST : local + 1;
		c->local_port = local;
		c->peer_port = (uint32_t)port;
		c->state = CONN_CONNECTING;
		ctl_queue(m, local, c->peer_port, VSOCK_OP_REQUEST, 0);
		ctl_flush(m);
		conn_update(c);
		return;
	}
}

static void conn_read(void *opaque, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct vsock_model *m = c->m;
	if (c->state == CONN_HANDSHAKE) {
		conn_handshake(c);
		flush_notify(m);
		return;
	}
	if ((events & EPOLLOUT) && (pend_flush(c) || (c->closing && !c->pend_len))) {
		conn_reset(c);
		ctl_flush(m);
		flush_notify(m);
		return;
	}
	if (events & (EPOLLOUT))
		maybe_credit_update(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_to_guest(c);
	ctl_flush(m);
	conn_update(c);
	if (m->rx_starved)
		conns_update(m);
	ctl_flush(m); /* the RST of a connection the loop refused */
	flush_notify(m);
}

static void listener_ready(void *opaque, uint32_t events)
{
	struct vsock_model *m = opaque;
	(void)events;
	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct vsock_conn *c =
			m->nr_conns < VSOCK_MAX_CONNS ? conn_new(m, fd, CONN_HANDSHAKE) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		conn_update(c); /* the loop is full: refused rather than stranded */
	}
}

static void self_kick(void *opaque, uint32_t events)
{
	struct vsock_model *m = opaque;
	uint64_t v;
	(void)events;
	if (read(m->self_fd, &v, sizeof(v)) < 0)
		(void)0;
	vsock_model__kick_tx(m);
}

int vsock_model__new(const struct vsock_env *env, uint64_t guest_cid, const char *uds,
		     struct vsock_model **out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int r;
	if (guest_cid <= VSOCK_HOST_CID || guest_cid >= UINT32_MAX)
		return -EINVAL;
	/* Room for "_<port>" on guest-initiated connections. */
	if (!uds || !*uds || strlen(uds) + 12 > sizeof(a.sun_path))
		return -ENAMETOOLONG;
	struct vsock_model *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->env = *env;
	m->cid = guest_cid;
	m->next_port = HOST_PORT_FIRST;
	strcpy(m->uds, uds);
	strcpy(a.sun_path, uds);
	m->self_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->self_fd < 0) {
		r = -errno;
		goto err_free;
	}
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0) {
		r = -errno;
		goto err_self;
	}
	unlink(uds);
	if (bind(m->listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(m->listen_fd, 128)) {
		r = -errno;
		goto err_listen;
	}
	r = env->loop_add(env->opaque, m->listen_fd, EPOLLIN, listener_ready, m);
	if (r)
		goto err_unlink;
	r = env->loop_add(env->opaque, m->self_fd, EPOLLIN, self_kick, m);
	if (r)
		goto err_loop;
	*out = m;
	return 0;
err_loop:
	env->loop_del(env->opaque, m->listen_fd);
err_unlink:
	unlink(uds);
err_listen:
	close(m->listen_fd);
err_self:
	close(m->self_fd);
err_free:
	free(m);
	return r;
}

void vsock_model__reset(struct vsock_model *m)
{
	while (m->conns)
		conn_free(m->conns);
	m->ctl_len = 0;
	m->owed_head = m->owed_tail = NULL;
	m->rx_starved = m->rx_pushed = m->tx_pushed = m->broken = false;
}

void vsock_model__free(struct vsock_model *m)
{
	if (!m)
		return;
	vsock_model__reset(m);
	m->env.loop_del(m->env.opaque, m->self_fd);
	m->env.loop_del(m->env.opaque, m->listen_fd);
	close(m->self_fd);
	close(m->listen_fd);
	unlink(m->uds);
	free(m);
}

uint64_t vsock_model__cid(const struct vsock_model *m)
{
	return m->cid;
}

void vsock_model__stats(const struct vsock_model *m, struct vsock_stats *s)
{
	*s = m->stats;
}
