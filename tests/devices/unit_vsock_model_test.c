/* The vsock model driven without a VM: a hand-written driver on rings in a
 * plain buffer, and a fake event loop the test can make refuse a socket.
 *   - Credit updates owed while the control queue is full (a guest that
 *     starved its rx queue, then sent 1100 packets that each earn an RST)
 *     are not lost: once rx buffers come, the CREDIT_REQUEST asked then and
 *     the update that 64 KiB of data earned both arrive, each after its
 *     stream's RESPONSE, and a later CREDIT_REQUEST is answered again (the
 *     old model dropped them and never answered that connection again).
 *   - A connection that left the event loop (rx starved) and cannot get
 *     back in (no slot) is reset: the guest gets an RST, the host socket is
 *     closed, the failure is noted with its reason and counted (the old
 *     model left it unwatched, silently). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev_test.h"
#include "ring_util.h"
#include "virtio/virtqueue.h"
#include "virtio/vsock_model.h"

#define NUM 256
#define RXQ 0x0000
#define TXQ 0x4000
#define RXBUF 0x10000 /* NUM x 256 bytes */
#define TXBUF 0x20000 /* NUM x 64 bytes, header-only packets */
#define TXDATA 0x30000 /* one header + 64 KiB data packet */
#define RAM_SIZE (1u << 20)
#define DATA_LEN (64u << 10)
#define HOST_PORT 1024
#define MAX_FDS 4096
#define MAX_PKTS 4096

static uint8_t ram[RAM_SIZE];
static struct guest_mem gm;
static struct virtq rxq, txq;
static uint16_t rx_avail, rx_seen, tx_avail;
static struct vsock_hdr got[MAX_PKTS];
static unsigned int nr_got;
static int passed, failed;

/* The fake loop: what the model registered, and whether adds fail. */
static struct {
	vsock_loop_fn fn[MAX_FDS];
	void *cb[MAX_FDS];
	bool refuse_add;
	int errors;
	char note[200];
	int notes;
} loop;

static void f_notify(void *o, unsigned int q) { (void)o; (void)q; }
static void f_error(void *o, const char *t)
{
	(void)o;
	printf("    device error: %s\n", t);
	loop.errors++;
}
static int f_add(void *o, int fd, uint32_t ev, vsock_loop_fn fn, void *cb)
{
	(void)o;
	(void)ev;
	if (fd < 0 || fd >= MAX_FDS || loop.fn[fd])
		return -EINVAL;
	if (loop.refuse_add)
		return -ENOSPC;
	loop.fn[fd] = fn;
	loop.cb[fd] = cb;
	return 0;
}
static int f_mod(void *o, int fd, uint32_t ev)
{
	(void)o;
	(void)ev;
	return fd >= 0 && fd < MAX_FDS && loop.fn[fd] ? 0 : -ENOENT;
}
static int f_del(void *o, int fd)
{
	(void)o;
	if (fd < 0 || fd >= MAX_FDS || !loop.fn[fd])
		return -ENOENT;
	loop.fn[fd] = NULL;
	return 0;
}
static void f_note(void *o, const char *t)
{
	(void)o;
	snprintf(loop.note, sizeof(loop.note), "%s", t);
	loop.notes++;
}

static void avail_put(uint64_t q, uint16_t *idx, uint16_t head)
{
	gm__write(&gm, q + 0x1000 + 4 + 2ull * (*idx % NUM), &head, 2);
	(*idx)++;
	gm__write(&gm, q + 0x1000 + 2, idx, 2);
}

static void rings_reset(void)
{
	memset(ram, 0, sizeof(ram));
	rx_avail = rx_seen = tx_avail = 0;
	nr_got = 0;
	rxq = (struct virtq){ .num = NUM, .ready = true, .desc = RXQ, .avail = RXQ + 0x1000,
			      .used = RXQ + 0x2000 };
	txq = (struct virtq){ .num = NUM, .ready = true, .desc = TXQ, .avail = TXQ + 0x1000,
			      .used = TXQ + 0x2000 };
}

/* Queues a guest packet (not yet kicked); RW carries DATA_LEN bytes. */
static void tx_put(uint16_t op, uint32_t src, uint32_t dst)
{
	uint16_t d = tx_avail % NUM;
	uint32_t len = op == VSOCK_OP_RW ? DATA_LEN : 0;
	uint64_t at = len ? TXDATA : TXBUF + 64ull * d;
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = VSOCK_HOST_CID, .src_port = src,
			       .dst_port = dst, .len = len, .type = VSOCK_TYPE_STREAM,
			       .op = op, .buf_alloc = 65536 };
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr__encode(&h, raw);
	gm__write(&gm, at, raw, sizeof(raw));
	ring_put_desc(&gm, TXQ, d, at, VSOCK_HDR_SIZE + len, 0, 0);
	avail_put(TXQ, &tx_avail, d);
}

/* Kicks tx and checks the model took every packet. */
static bool tx_kick(struct vsock_model *m)
{
	uint16_t used;
	vsock_model__kick_tx(m);
	gm__read(&gm, TXQ + 0x2000 + 2, &used, 2);
	return used == tx_avail;
}

static bool tx_send(struct vsock_model *m, uint16_t op, uint32_t src, uint32_t dst)
{
	tx_put(op, src, dst);
	return tx_kick(m);
}

/* Collects what the model wrote to rx, posts as many fresh buffers and
 * kicks, until a kick brings nothing more. */
static void rx_drain(struct vsock_model *m)
{
	for (;;) {
		uint16_t used, n = 0;
		gm__read(&gm, RXQ + 0x2000 + 2, &used, 2);
		while (rx_seen != used) {
			uint32_t id;
			uint8_t raw[VSOCK_HDR_SIZE];
			gm__read(&gm, RXQ + 0x2000 + 4 + 8ull * (rx_seen % NUM), &id, 4);
			gm__read(&gm, RXBUF + 256ull * id, raw, sizeof(raw));
			if (nr_got < MAX_PKTS)
				vsock_hdr__decode(raw, &got[nr_got++]);
			rx_seen++;
		}
		/* Top the ring up to NUM outstanding buffers. */
		while ((uint16_t)(rx_avail - rx_seen) < NUM) {
			uint16_t d = rx_avail % NUM;
			ring_put_desc(&gm, RXQ, d, RXBUF + 256ull * d, 256, VRING_DESC_F_WRITE, 0);
			avail_put(RXQ, &rx_avail, d);
			n++;
		}
		if (!n)
			return;
		vsock_model__kick_rx(m);
		gm__read(&gm, RXQ + 0x2000 + 2, &used, 2);
		if (used == rx_seen)
			return;
	}
}

/* Index in got[] of the first packet with op for guest port gp at or after
 * from; -1 if none. */
static int find_pkt(unsigned int from, uint16_t op, uint32_t gp)
{
	for (unsigned int i = from; i < nr_got; i++)
		if (got[i].op == op && got[i].dst_port == gp && got[i].src_port == HOST_PORT)
			return (int)i;
	return -1;
}

struct fixture {
	char dir[32], uds[48], peer[64];
	int listen_fd;
	struct vsock_model *m;
};

static bool fixture__init(struct fixture *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memset(&loop, 0, sizeof(loop));
	rings_reset();
	f->listen_fd = -1;
	f->m = NULL;
	snprintf(f->dir, sizeof(f->dir), "/tmp/joey-vsmodel.XXXXXX");
	if (!mkdtemp(f->dir))
		return false;
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	snprintf(f->peer, sizeof(f->peer), "%s_%u", f->uds, HOST_PORT);
	memcpy(a.sun_path, f->peer, strlen(f->peer) + 1);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(f->listen_fd, 4096))
		return false;
	struct vsock_env env = { .gm = &gm, .rxq = &rxq, .txq = &txq, .notify = f_notify,
				 .error = f_error, .loop_add = f_add, .loop_mod = f_mod,
				 .loop_del = f_del, .note = f_note };
	return vsock_model__new(&env, 3, f->uds, &f->m) == 0;
}

static void fixture__exit(struct fixture *f)
{
	vsock_model__free(f->m);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	unlink(f->peer);
	unlink(f->uds);
	rmdir(f->dir);
}

/* The next connection the model made to the host service (waits 1 s). */
static int host_accept(struct fixture *f)
{
	struct pollfd p = { f->listen_fd, POLLIN, 0 };
	if (poll(&p, 1, 1000) != 1)
		return -1;
	return accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
}

static int test_credit_owed_past_full_queue(void)
{
	struct fixture f;
	int rc = 1, host_a = -1, host_b = -1, i;
	const uint32_t A = 777, B = 778;
	DT_CHECK(fixture__init(&f));
	/* No rx buffers: the two RESPONSEs wait in the control queue. */
	DT_CHECK(tx_send(f.m, VSOCK_OP_REQUEST, A, HOST_PORT));
	DT_CHECK(tx_send(f.m, VSOCK_OP_REQUEST, B, HOST_PORT));
	DT_CHECK((host_a = host_accept(&f)) >= 0 && (host_b = host_accept(&f)) >= 0);
	/* 1100 CREDIT_REQUESTs for streams that do not exist: each earns an
	 * RST, which fills the control queue (1024) past its bound. */
	for (i = 0; i < 1100; i++) {
		tx_put(VSOCK_OP_CREDIT_REQUEST, 20000 + (uint32_t)i, HOST_PORT);
		if (i % 128 == 127)
			DT_CHECK(tx_kick(f.m));
	}
	DT_CHECK(tx_kick(f.m));
	/* Now A asks for credit and B sends 64 KiB that the host socket takes
	 * (fwd_cnt moves a quarter of the window: an update is due). */
	DT_CHECK(tx_send(f.m, VSOCK_OP_CREDIT_REQUEST, A, HOST_PORT));
	DT_CHECK(tx_send(f.m, VSOCK_OP_RW, B, HOST_PORT));
	rx_drain(f.m);
	printf("    %u packets after rx buffers came\n", nr_got);
	int resp_a = find_pkt(0, VSOCK_OP_RESPONSE, A), resp_b = find_pkt(0, VSOCK_OP_RESPONSE, B);
	int cu_a = find_pkt(0, VSOCK_OP_CREDIT_UPDATE, A);
	int cu_b = find_pkt(0, VSOCK_OP_CREDIT_UPDATE, B);
	DT_CHECK(resp_a >= 0 && resp_b >= 0);
	DT_CHECK(cu_a > resp_a);
	DT_CHECK(cu_b > resp_b);
	DT_CHECK(got[cu_b].fwd_cnt == DATA_LEN && got[cu_b].buf_alloc > 0);
	DT_CHECK(find_pkt((unsigned int)cu_a + 1, VSOCK_OP_CREDIT_UPDATE, A) < 0);
	/* And both keep answering. */
	unsigned int mark = nr_got;
	DT_CHECK(tx_send(f.m, VSOCK_OP_CREDIT_REQUEST, A, HOST_PORT));
	DT_CHECK(tx_send(f.m, VSOCK_OP_CREDIT_REQUEST, B, HOST_PORT));
	rx_drain(f.m);
	DT_CHECK(find_pkt(mark, VSOCK_OP_CREDIT_UPDATE, A) >= 0);
	DT_CHECK(find_pkt(mark, VSOCK_OP_CREDIT_UPDATE, B) >= 0);
	DT_CHECK(find_pkt(0, VSOCK_OP_RST, A) < 0 && find_pkt(0, VSOCK_OP_RST, B) < 0);
	DT_CHECK(loop.errors == 0);
	rc = 0;
out:
	if (host_a >= 0)
		close(host_a);
	if (host_b >= 0)
		close(host_b);
	fixture__exit(&f);
	return rc;
}

/* Fires the fake loop's callback for fd, as epoll would. */
static bool loop_fire(int fd, uint32_t events)
{
	if (fd < 0 || fd >= MAX_FDS || !loop.fn[fd])
		return false;
	loop.fn[fd](loop.cb[fd], events);
	return true;
}

static int test_loop_refusal_resets(void)
{
	struct fixture f;
	struct vsock_stats st;
	int rc = 1, host = -1, dev_fd = -1;
	const uint32_t A = 900;
	DT_CHECK(fixture__init(&f));
	int before[MAX_FDS / 8] = { 0 };
	for (int fd = 0; fd < MAX_FDS / 8; fd++)
		before[fd] = loop.fn[fd] != NULL;
	/* Opened with no rx buffers: the model watches the host socket, its
	 * RESPONSE waits. */
	DT_CHECK(tx_send(f.m, VSOCK_OP_REQUEST, A, HOST_PORT));
	DT_CHECK((host = host_accept(&f)) >= 0);
	for (int fd = 0; fd < MAX_FDS / 8; fd++)
		if (loop.fn[fd] && !before[fd])
			dev_fd = fd;
	DT_CHECK(dev_fd >= 0);
	/* The host has data; the model finds rx starved and leaves the loop. */
	DT_CHECK(write(host, "x", 1) == 1);
	DT_CHECK(loop_fire(dev_fd, EPOLLIN));
	DT_CHECK(!loop.fn[dev_fd]);
	/* Rx buffers come, but the loop has no slot for the socket now. */
	loop.refuse_add = true;
	rx_drain(f.m);
	int resp = find_pkt(0, VSOCK_OP_RESPONSE, A), rst = find_pkt(0, VSOCK_OP_RST, A);
	DT_CHECK(resp >= 0);
	DT_CHECK(rst > resp);
	DT_CHECK(loop.notes == 1 && strstr(loop.note, "event loop"));
	printf("    noted: %s\n", loop.note);
	vsock_model__stats(f.m, &st);
	DT_CHECK(st.loop_refused == 1 && st.conns_closed == st.conns_opened);
	/* The host sees the close. */
	struct pollfd p = { host, POLLRDHUP, 0 };
	DT_CHECK(poll(&p, 1, 1000) == 1 && (p.revents & (POLLHUP | POLLRDHUP)));
	DT_CHECK(loop.errors == 0);
	rc = 0;
out:
	if (host >= 0)
		close(host);
	fixture__exit(&f);
	return rc;
}

static void run(const char *name, int (*fn)(void))
{
	printf("  %s\n", name);
	if (fn()) {
		printf("    not ok\n");
		failed++;
	} else {
		passed++;
	}
}

int main(void)
{
	struct gm_region r = { 0, sizeof(ram), ram, -1, 0, 0 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (gm__add_region(&gm, &r)) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	run("credit updates owed past a full control queue reach the guest once rx room exists",
	    test_credit_owed_past_full_queue);
	run("a connection the event loop will not take back is reset and noted",
	    test_loop_refusal_resets);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
