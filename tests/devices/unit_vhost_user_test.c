/* joey's vhost-user vsock back end (in-process, vhost_vsock__start) driven
 * by joey's own vhost-user front end and a hand-written driver, as QEMU
 * would: features and REPLY_ACK, GET_CONFIG (guest CID), a memfd memory
 * table passed with SCM_RIGHTS, rings with kick/call eventfds; then a
 * guest-initiated stream to <uds>_1024 carries "hello" out and "world" in,
 * GET_VRING_BASE reports the ring position, and closing the front end ends
 * the back end cleanly with its sockets removed. No KVM needed. */
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
#define NUM 16
#define RXQ 0x10000
#define TXQ 0x20000
#define TXBUF 0x30000
#define RXBUF 0x40000

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			printf("    FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);      \
			goto out;                                                 \
		}                                                                 \
	} while (0)

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

static void hdr(uint64_t at, uint32_t op, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 777, .dst_port = 1024,
			       .len = len, .type = VSOCK_TYPE_STREAM, .op = (uint16_t)op,
			       .buf_alloc = 65536 };
	vsock_hdr__encode(&h, ram + at);
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
	CHECK(memfd >= 0 && !ftruncate(memfd, MEM));
	ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(ram != MAP_FAILED);
	struct gm_region reg = { 0, MEM, ram, memfd, 0, 0 };
	CHECK(!gm__add_region(&gm, &reg));
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, peer);
	CHECK(lst >= 0 && !bind(lst, (struct sockaddr *)&a, sizeof(a)) && !listen(lst, 1));

	CHECK(!vhost_vsock__start(sock, uds, 3, &srv, err, sizeof(err)));
	CHECK(!vhu_frontend__connect(&fe, sock));
	CHECK(fe.features & (1ull << VIRTIO_F_VERSION_1));
	CHECK(fe.features & (1ull << VHU_F_PROTOCOL_FEATURES));
	CHECK(fe.protocol & (1ull << VHU_PROTOCOL_F_REPLY_ACK)); /* every set below is acked */
	printf("  ok   features 0x%llx, REPLY_ACK negotiated\n", (unsigned long long)fe.features);

	struct vhu_msg m;
	vhu_msg__init(&m, VHU_GET_CONFIG, 0, 20);
	memset(&m.p.config, 0, 20);
	m.p.config.size = 8;
	CHECK(!vhu_conn__send(fe.sock, &m) && !vhu_conn__recv(fe.sock, &m));
	uint64_t cid;
	memcpy(&cid, m.p.config.data, 8);
	CHECK((m.hdr.flags & VHU_FLAG_REPLY) && m.p.config.size == 8 && cid == 3);
	printf("  ok   GET_CONFIG: guest cid %llu\n", (unsigned long long)cid);

	CHECK(!vhu_frontend__set_features(&fe, 1ull << VIRTIO_F_VERSION_1));
	CHECK(!vhu_frontend__set_mem_table(&fe, &gm));
	for (int i = 0; i < 2; i++) {
		kicks[i] = eventfd(0, EFD_CLOEXEC);
		calls[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(kicks[i] >= 0 && calls[i] >= 0);
	}
	CHECK(!vhu_frontend__start_ring(&fe, &gm, 0, NUM, RXQ, RXQ + 0x1000, RXQ + 0x2000, kicks[0],
					calls[0]));
	CHECK(!vhu_frontend__start_ring(&fe, &gm, 1, NUM, TXQ, TXQ + 0x1000, TXQ + 0x2000, kicks[1],
					calls[1]));
	printf("  ok   memfd table and both rings accepted\n");

	uint16_t rx_avail = 0, tx_avail = 0;
	for (uint16_t i = 0; i < 4; i++) {
		ring_put_desc(&gm, RXQ, i, RXBUF + 0x2000ull * i, VSOCK_HDR_SIZE + 4096, VRING_DESC_F_WRITE, 0);
		avail_add(RXQ, &rx_avail, i);
	}
	kick(kicks[0]);
	hdr(TXBUF, VSOCK_OP_REQUEST, 0);
	ring_put_desc(&gm, TXQ, 0, TXBUF, VSOCK_HDR_SIZE, 0, 0);
	avail_add(TXQ, &tx_avail, 0);
	kick(kicks[1]);
	struct pollfd p = { lst, POLLIN, 0 };
	CHECK(poll(&p, 1, 5000) == 1 && (conn = accept(lst, NULL, NULL)) >= 0);
	CHECK(wait_used(RXQ, 1, calls[0]));
	struct vsock_hdr h;
	vsock_hdr__decode(ram + RXBUF, &h);
	CHECK(h.op == VSOCK_OP_RESPONSE && h.src_port == 1024 && h.dst_port == 777 && h.dst_cid == 3);
	printf("  ok   guest REQUEST to port 1024 reached <uds>_1024, RESPONSE came back\n");

	hdr(TXBUF + 0x100, VSOCK_OP_RW, 5);
	memcpy(ram + TXBUF + 0x200, "hello", 5);
	ring_put_desc(&gm, TXQ, 1, TXBUF + 0x100, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, 2);
	ring_put_desc(&gm, TXQ, 2, TXBUF + 0x200, 5, 0, 0);
	avail_add(TXQ, &tx_avail, 1);
	kick(kicks[1]);
	char buf[8] = { 0 };
	CHECK(read(conn, buf, 5) == 5 && !memcmp(buf, "hello", 5));
	CHECK(write(conn, "world", 5) == 5);
	CHECK(wait_used(RXQ, 2, calls[0]));
	vsock_hdr__decode(ram + RXBUF + 0x2000, &h);
	CHECK(h.op == VSOCK_OP_RW && h.len == 5 && !memcmp(ram + RXBUF + 0x2000 + 44, "world", 5));
	printf("  ok   \"hello\" guest->host (chained descriptors), \"world\" host->guest\n");

	uint16_t base = 0;
	CHECK(!vhu_frontend__stop_ring(&fe, 1, &base) && base == 2);
	printf("  ok   GET_VRING_BASE(tx) = %u\n", base);
	vhu_frontend__close(&fe);
	CHECK(vhost_vsock__stop(srv, err, sizeof(err)) == 0);
	srv = NULL;
	CHECK(access(sock, F_OK) && access(uds, F_OK));
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
