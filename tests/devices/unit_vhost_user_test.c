/* joey's vhost-user vsock back end (in-process, vhost_vsock__start) driven
 * by joey's own vhost-user front end and a hand-written driver, as QEMU
 * would: features and REPLY_ACK, GET_CONFIG (guest CID), a memfd memory
 * table passed with SCM_RIGHTS, rings with kick/call eventfds; then a
 * guest-initiated stream to <uds>_1024 carries "hello" out and "world" in,
 * a REQUEST to a port nobody serves gets RST, a host CONNECT (any case) the
 * guest refuses closes the host socket without "OK", one it accepts answers
 * "OK <port>", 32 streams open at once, GET_VRING_BASE reports the ring
 * position, and closing the front end ends the back end cleanly with its
 * sockets removed. No KVM needed. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev_test.h"
#include "ring_util.h"
#include "vhost_user/conn.h"
#include "vhost_user/frontend.h"
#include "vhost_user/vsock_backend.h"
#include "virtio/virtqueue.h"
#include "virtio/vsock_model.h"

#define MEM (2u << 20)
#define NUM 64
#define RXQ 0x10000
#define TXQ 0x20000
#define TXBUF 0x30000
#define RXBUF 0x40000

static uint8_t *ram;
static struct guest_mem gm;

static void avail_add(uint64_t q, uint16_t *idx, uint16_t head)
{
	memcpy(ram + q + 0x1000 + 4 + 2ull * (*idx % NUM), &head, 2);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	(*idx)++;
	memcpy(ram + q + 0x1000 + 2, idx, 2);
}

static uint16_t used_idx(uint64_t q)
{
	return __atomic_load_n((uint16_t *)(ram + q + 0x2000 + 2), __ATOMIC_SEQ_CST);
}

static bool wait_used(uint64_t q, uint16_t want, int call)
{
	for (int i = 0; i < 500 && used_idx(q) < want; i++) {
		struct pollfd p = { call, POLLIN, 0 };
		poll(&p, 1, 10);
		uint64_t v;
		if (read(call, &v, 8) < 0)
			(void)0;
	}
	return used_idx(q) >= want;
}

static void kick(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, 8) < 0)
		(void)0;
}

static void hdr_ports(uint64_t at, uint32_t op, uint32_t len, uint32_t src, uint32_t dst)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = src, .dst_port = dst,
			       .len = len, .type = VSOCK_TYPE_STREAM, .op = (uint16_t)op,
			       .buf_alloc = 65536 };
	vsock_hdr__encode(&h, ram + at);
}

static void hdr(uint64_t at, uint32_t op, uint32_t len)
{
	hdr_ports(at, op, len, 777, 1024);
}

static uint16_t tx_avail, rx_seen;
static int kick_fds[2], call_fds[2];

/* A header-only packet from the guest, one descriptor per packet. */
static void guest_send(uint32_t op, uint32_t src, uint32_t dst)
{
	uint16_t d = tx_avail % NUM;
	hdr_ports(TXBUF + 0x100ull * d, op, 0, src, dst);
	ring_put_desc(&gm, TXQ, d, TXBUF + 0x100ull * d, VSOCK_HDR_SIZE, 0, 0);
	avail_add(TXQ, &tx_avail, d);
	kick(kick_fds[1]);
}

/* The next packet the back end put in the rx ring. */
static bool guest_recv(struct vsock_hdr *h)
{
	if (!wait_used(RXQ, (uint16_t)(rx_seen + 1), call_fds[0]))
		return false;
	uint32_t id;
	memcpy(&id, ram + RXQ + 0x2000 + 4 + 8ull * (rx_seen % NUM), 4);
	rx_seen++;
	vsock_hdr__decode(ram + RXBUF + 0x2000ull * id, h);
	return true;
}

/* Like guest_recv, but gives up after ms. */
static bool guest_recv_within(struct vsock_hdr *h, int ms)
{
	for (int waited = 0; used_idx(RXQ) == rx_seen && waited < ms; waited += 5)
		usleep(5000);
	return used_idx(RXQ) != rx_seen && guest_recv(h);
}

#define CLOSE_BUF 0x100000 /* 44-byte header + 4 KiB payload per descriptor */
#define CLOSE_MAX (16u << 20)
#define CLOSE_CREDIT (256u << 10) /* the back end's buf_alloc */

/* The guest sends on 777 -> 1024 while the host reads nothing, until the
 * back end's credit runs out (so it holds up to its buf_alloc that the
 * host socket would not take), then closes both ways. The RST that ends
 * the close may only come once every byte reached the host, which reads
 * them all, in order, then EOF. */
static bool full_close_flushes_first(int conn, uint32_t already_sent)
{
	struct vsock_hdr h;
	uint32_t sent = 0, fwd = 0;
	while (sent < CLOSE_MAX) {
		/* Credit updates the back end sent (fwd_cnt only grows); with
		 * none left, wait a little for one: none means the host socket
		 * is full and the back end holds the rest. */
		bool more = true;
		while (more && (more = guest_recv_within(&h, 0) ||
				       (already_sent + sent + 4096 - fwd > CLOSE_CREDIT &&
					guest_recv_within(&h, 300))))
			if (h.op != VSOCK_OP_RST && h.src_port == 1024 && h.fwd_cnt > fwd)
				fwd = h.fwd_cnt;
		if (already_sent + sent + 4096 - fwd > CLOSE_CREDIT)
			break;
		uint16_t d = tx_avail % NUM;
		uint64_t at = CLOSE_BUF + 0x1100ull * d;
		hdr_ports(at, VSOCK_OP_RW, 4096, 777, 1024);
		for (uint32_t i = 0; i < 4096; i++)
			ram[at + VSOCK_HDR_SIZE + i] = (uint8_t)((sent + i) * 7 + 1);
		ring_put_desc(&gm, TXQ, d, at, VSOCK_HDR_SIZE + 4096, 0, 0);
		avail_add(TXQ, &tx_avail, d);
		kick(kick_fds[1]);
		if (!wait_used(TXQ, tx_avail, call_fds[1]))
			return false;
		sent += 4096;
	}
	if (sent == CLOSE_MAX) {
		printf("    the host socket took %u bytes: nothing left pending to test\n", sent);
		return false;
	}
	struct vsock_hdr sh = { .src_cid = 3, .dst_cid = 2, .src_port = 777, .dst_port = 1024,
				.type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_SHUTDOWN,
				.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, .buf_alloc = 65536 };
	uint16_t d = tx_avail % NUM;
	vsock_hdr__encode(&sh, ram + CLOSE_BUF + 0x1100ull * d);
	ring_put_desc(&gm, TXQ, d, CLOSE_BUF + 0x1100ull * d, VSOCK_HDR_SIZE, 0, 0);
	avail_add(TXQ, &tx_avail, d);
	kick(kick_fds[1]);
	/* Credit updates may come; an RST must not, while bytes wait. */
	while (guest_recv_within(&h, 300))
		if (h.op == VSOCK_OP_RST) {
			printf("    RST before the host read the pending bytes\n");
			return false;
		}
	static uint8_t buf[65536];
	uint32_t got = 0;
	for (;;) {
		struct pollfd p = { conn, POLLIN, 0 };
		if (poll(&p, 1, 3000) != 1)
			break;
		ssize_t r = read(conn, buf, sizeof(buf));
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != (uint8_t)((got + (uint32_t)i) * 7 + 1)) {
				printf("    byte %u wrong\n", got + (uint32_t)i);
				return false;
			}
		got += (uint32_t)r;
	}
	if (got != sent) {
		printf("    host read %u of %u bytes before EOF\n", got, sent);
		return false;
	}
	printf("    %u bytes sent, the host read them all, then EOF\n", sent);
	while (guest_recv_within(&h, 3000))
		if (h.op == VSOCK_OP_RST && h.src_port == 1024 && h.dst_port == 777)
			return true;
	printf("    no RST after the host read everything\n");
	return false;
}

/* The Seccomp: line of the back end's thread (named joey-vhu-vsock):
 * 2 = filter mode; -1 when the thread is not found. */
static int backend_seccomp_mode(void)
{
	char path[300], line[128];
	int mode = -1;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && mode < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		bool ours = f && fgets(line, sizeof(line), f) && !strcmp(line, "joey-vhu-vsock\n");
		if (f)
			fclose(f);
		if (!ours)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "Seccomp:", 8))
				mode = atoi(line + 8);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return mode;
}

static int host_connect(const char *path, const char *line)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(a.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int main(void)
{
	char dir[64], sock[128], uds[128], peer[140], err[256];
	struct vhost_vsock_server *srv = NULL;
	struct vhu_frontend fe = { .sock = -1 };
	int memfd = -1, lst = -1, conn = -1, failed = 1;
	int kicks[2] = { -1, -1 }, calls[2] = { -1, -1 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!dt_tmpdir(dir, sizeof(dir)))
		return 1;
	snprintf(sock, sizeof(sock), "%s/vhost.sock", dir);
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(peer, sizeof(peer), "%s_1024", uds);
	memfd = memfd_create("guest", MFD_CLOEXEC);
	DT_CHECK(memfd >= 0 && !ftruncate(memfd, MEM));
	ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	DT_CHECK(ram != MAP_FAILED);
	struct gm_region reg = { 0, MEM, ram, memfd, 0, 0 };
	DT_CHECK(!gm__add_region(&gm, &reg));
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, peer);
	DT_CHECK(lst >= 0 && !bind(lst, (struct sockaddr *)&a, sizeof(a)) && !listen(lst, 64));

	DT_CHECK(!vhost_vsock__start(sock, uds, 3, &srv, err, sizeof(err)));
	DT_CHECK(!vhu_frontend__connect(&fe, sock));
	DT_CHECK(vhost_vsock__running(srv) == 1);
	int sc = backend_seccomp_mode();
	DT_CHECK(sc == 2);
	printf("  ok   the back end's thread runs under a seccomp filter\n");
	DT_CHECK(fe.features & (1ull << VIRTIO_F_VERSION_1));
	DT_CHECK(fe.features & (1ull << VHU_F_PROTOCOL_FEATURES));
	DT_CHECK(fe.protocol & (1ull << VHU_PROTOCOL_F_REPLY_ACK)); /* every set below is acked */
	printf("  ok   features 0x%llx, REPLY_ACK negotiated\n", (unsigned long long)fe.features);

	struct vhu_msg m;
	vhu_msg__init(&m, VHU_GET_CONFIG, 0, 20);
	memset(&m.p.config, 0, 20);
	m.p.config.size = 8;
	DT_CHECK(!vhu_conn__send(fe.sock, &m) && !vhu_conn__recv(fe.sock, &m));
	uint64_t cid;
	memcpy(&cid, m.p.config.data, 8);
	DT_CHECK((m.hdr.flags & VHU_FLAG_REPLY) && m.p.config.size == 8 && cid == 3);
	printf("  ok   GET_CONFIG: guest cid %llu\n", (unsigned long long)cid);

	DT_CHECK(!vhu_frontend__set_features(&fe, 1ull << VIRTIO_F_VERSION_1));
	DT_CHECK(!vhu_frontend__set_mem_table(&fe, &gm));
	for (int i = 0; i < 2; i++) {
		kicks[i] = eventfd(0, EFD_CLOEXEC);
		calls[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		DT_CHECK(kicks[i] >= 0 && calls[i] >= 0);
	}
	DT_CHECK(!vhu_frontend__start_ring(&fe, &gm, 0, NUM, RXQ, RXQ + 0x1000, RXQ + 0x2000, kicks[0],
					calls[0]));
	DT_CHECK(!vhu_frontend__start_ring(&fe, &gm, 1, NUM, TXQ, TXQ + 0x1000, TXQ + 0x2000, kicks[1],
					calls[1]));
	printf("  ok   memfd table and both rings accepted\n");

	kick_fds[0] = kicks[0];
	kick_fds[1] = kicks[1];
	call_fds[0] = calls[0];
	call_fds[1] = calls[1];
	uint16_t rx_avail = 0;
	for (uint16_t i = 0; i < NUM; i++) {
		ring_put_desc(&gm, RXQ, i, RXBUF + 0x2000ull * i, VSOCK_HDR_SIZE + 4096, VRING_DESC_F_WRITE, 0);
		avail_add(RXQ, &rx_avail, i);
	}
	kick(kicks[0]);
	hdr(TXBUF, VSOCK_OP_REQUEST, 0);
	ring_put_desc(&gm, TXQ, 0, TXBUF, VSOCK_HDR_SIZE, 0, 0);
	avail_add(TXQ, &tx_avail, 0);
	kick(kicks[1]);
	struct pollfd p = { lst, POLLIN, 0 };
	DT_CHECK(poll(&p, 1, 5000) == 1 && (conn = accept(lst, NULL, NULL)) >= 0);
	struct vsock_hdr h;
	DT_CHECK(guest_recv(&h));
	DT_CHECK(h.op == VSOCK_OP_RESPONSE && h.src_port == 1024 && h.dst_port == 777 && h.dst_cid == 3);
	printf("  ok   guest REQUEST to port 1024 reached <uds>_1024, RESPONSE came back\n");

	/* Chained: header in descriptor 60, payload in 61 (clear of guest_send's). */
	hdr(TXBUF + 0x3c00, VSOCK_OP_RW, 5);
	memcpy(ram + TXBUF + 0x3d00, "hello", 5);
	ring_put_desc(&gm, TXQ, 60, TXBUF + 0x3c00, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, 61);
	ring_put_desc(&gm, TXQ, 61, TXBUF + 0x3d00, 5, 0, 0);
	avail_add(TXQ, &tx_avail, 60);
	kick(kicks[1]);
	char buf[8] = { 0 };
	DT_CHECK(read(conn, buf, 5) == 5 && !memcmp(buf, "hello", 5));
	DT_CHECK(write(conn, "world", 5) == 5);
	DT_CHECK(guest_recv(&h));
	DT_CHECK(h.op == VSOCK_OP_RW && h.len == 5 && !memcmp(ram + RXBUF + 0x2000 + 44, "world", 5));
	printf("  ok   \"hello\" guest->host (chained descriptors), \"world\" host->guest\n");

	guest_send(VSOCK_OP_REQUEST, 800, 9999);
	DT_CHECK(guest_recv(&h) && h.op == VSOCK_OP_RST && h.src_port == 9999 && h.dst_port == 800);
	printf("  ok   REQUEST to a port with no <uds>_<port> listener gets RST\n");

	int hc = host_connect(uds, "CONNECT 4242\n");
	DT_CHECK(hc >= 0 && guest_recv(&h) && h.op == VSOCK_OP_REQUEST && h.dst_port == 4242 &&
	      h.src_port >= (1u << 30) && h.src_cid == 2);
	guest_send(VSOCK_OP_RST, 4242, h.src_port);
	char line[32] = { 0 };
	ssize_t got = read(hc, line, sizeof(line) - 1);
	close(hc);
	DT_CHECK(got == 0);
	printf("  ok   CONNECT the guest refuses (RST): host socket closed without OK\n");

	hc = host_connect(uds, "Connect 4243\n");
	DT_CHECK(hc >= 0 && guest_recv(&h) && h.op == VSOCK_OP_REQUEST && h.dst_port == 4243);
	uint32_t host_port = h.src_port;
	guest_send(VSOCK_OP_RESPONSE, 4243, host_port);
	char want[32];
	snprintf(want, sizeof(want), "OK %u\n", host_port);
	got = read(hc, line, strlen(want));
	close(hc);
	DT_CHECK(got == (ssize_t)strlen(want) && !memcmp(line, want, strlen(want)));
	DT_CHECK(guest_recv(&h) && h.op == VSOCK_OP_SHUTDOWN && h.dst_port == 4243);
	printf("  ok   \"Connect 4243\" accepted: host read \"OK %u\", then SHUTDOWN on close\n",
	       host_port);

	DT_CHECK(full_close_flushes_first(conn, 5));
	printf("  ok   full close with bytes pending: the host gets them all, then EOF, then RST\n");

	int streams[32];
	for (int i = 0; i < 32; i++)
		guest_send(VSOCK_OP_REQUEST, 2000 + (uint32_t)i, 1024);
	int responses = 0;
	for (int i = 0; i < 32; i++) {
		DT_CHECK(guest_recv(&h));
		responses += h.op == VSOCK_OP_RESPONSE && h.src_port == 1024 &&
			     h.dst_port == 2000u + (uint32_t)i;
		struct pollfd lp = { lst, POLLIN, 0 };
		streams[i] = poll(&lp, 1, 2000) == 1 ? accept(lst, NULL, NULL) : -1;
	}
	int accepted = 0;
	for (int i = 0; i < 32; i++)
		if (streams[i] >= 0) {
			accepted++;
			close(streams[i]);
		}
	DT_CHECK(responses == 32 && accepted == 32);
	printf("  ok   32 streams at once: 32 host accepts, 32 RESPONSEs in order\n");

	uint16_t base = 0;
	DT_CHECK(!vhu_frontend__stop_ring(&fe, 1, &base) && base == tx_avail);
	printf("  ok   GET_VRING_BASE(tx) = %u\n", base);
	vhu_frontend__close(&fe);
	DT_CHECK(vhost_vsock__stop(srv, err, sizeof(err)) == 0);
	srv = NULL;
	DT_CHECK(access(sock, F_OK) && access(uds, F_OK));
	printf("  ok   back end ended cleanly, sockets removed\n");
	failed = 0;
out:
	if (srv)
		vhost_vsock__stop(srv, err, sizeof(err));
	vhu_frontend__close(&fe);
	for (int i = 0; i < 2; i++) {
		if (kicks[i] >= 0)
			close(kicks[i]);
		if (calls[i] >= 0)
			close(calls[i]);
	}
	if (conn >= 0)
		close(conn);
	if (lst >= 0)
		close(lst);
	if (ram && ram != MAP_FAILED)
		munmap(ram, MEM);
	if (memfd >= 0)
		close(memfd);
	dt_rmtree(dir);
	printf("%d passed, %d failed\n", failed ? 0 : 1, failed);
	return failed;
}
