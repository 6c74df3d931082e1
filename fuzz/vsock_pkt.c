/* Fuzzes the vsock model's tx path: the input is cut into packets (44-byte
 * header + payload) that a fake driver places in the tx queue, with rx
 * buffers posted, then the model runs. Guest-initiated connections target
 * a unix socket that exists, so established streams are reached too. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_mem.h"
#include "ring_util.h"
#include "virtio/vsock_model.h"

#define RING_NUM 64
#define TX_DESC 0x0000
#define TX_AVAIL 0x1000
#define TX_USED 0x2000
#define RX_DESC 0x3000
#define RX_AVAIL 0x4000
#define RX_USED 0x5000
#define RX_BUF 0x6000 /* 64 × 128 bytes */
#define TX_BUF 0x8000 /* packets laid out from here */

static struct guest_mem gm;
static struct virtq rxq, txq;
static struct vsock_model *model;
static int errors;
static int host_listener = -1;

static void f_notify(void *o, unsigned int q) { (void)o; (void)q; }
static void f_error(void *o, const char *t) { (void)o; (void)t; errors++; }
/* Sockets are driven by hand below: the loop is not needed. */
static int f_add(void *o, int fd, uint32_t ev, vsock_loop_fn fn, void *cb)
{
	(void)o; (void)fd; (void)ev; (void)fn; (void)cb;
	return 0;
}
static int f_mod(void *o, int fd, uint32_t ev) { (void)o; (void)fd; (void)ev; return 0; }
static int f_del(void *o, int fd) { (void)o; (void)fd; return 0; }

static void setup(void)
{
	char dir[] = "/tmp/joey-fuzz-vsock.XXXXXX";
	static char uds[128], peer[140];
	if (!mkdtemp(dir))
		abort();
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	/* A host service on port 1024 (guest-initiated connections). */
	snprintf(peer, sizeof(peer), "%s_1024", uds);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, peer);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4096))
		abort();
	host_listener = l;
	fz_mem_init(&gm);
	struct vsock_env env = { .gm = &gm, .rxq = &rxq, .txq = &txq, .notify = f_notify,
				 .error = f_error, .loop_add = f_add, .loop_mod = f_mod,
				 .loop_del = f_del };
	if (vsock_model__new(&env, 3, uds, &model))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!model)
		setup();
	memset(fz_low, 0, sizeof(fz_low));
	vsock_model__reset(model);
	virtq__reset(&rxq);
	virtq__reset(&txq);
	rxq = (struct virtq){ .num = RING_NUM, .ready = true, .desc = RX_DESC, .avail = RX_AVAIL,
			      .used = RX_USED, .event_idx = true };
	txq = (struct virtq){ .num = RING_NUM, .ready = true, .desc = TX_DESC, .avail = TX_AVAIL,
			      .used = TX_USED, .indirect = true };
	/* rx: 64 buffers of 128 bytes, all posted. */
	for (uint16_t i = 0; i < RING_NUM; i++) {
		ring_put_desc(&gm, RX_DESC, i, RX_BUF + 128u * i, 128, 2, 0);
		gm__write(&gm, RX_AVAIL + 4 + 2u * i, &i, 2);
	}
	uint16_t n = RING_NUM;
	gm__write(&gm, RX_AVAIL + 2, &n, 2);
	/* tx: each packet is <len byte><header><payload>, one or two descriptors. */
	uint64_t at = TX_BUF;
	uint16_t count = 0;
	size_t off = 0;
	while (off < size && count < RING_NUM && at < FZ_LOW_SIZE - 0x1000) {
		size_t take = VSOCK_HDR_SIZE + (data[off] % 64);
		off++;
		if (take > size - off)
			take = size - off;
		gm__write(&gm, at, data + off, take);
		/* Split header and payload into a chain when the packet is long. */
		if (take > VSOCK_HDR_SIZE && (data[off - 1] & 0x80) && count + 1 < RING_NUM) {
			ring_put_desc(&gm, TX_DESC, count, at, VSOCK_HDR_SIZE, 1, (uint16_t)(count + 1));
			ring_put_desc(&gm, TX_DESC, count + 1, at + VSOCK_HDR_SIZE,
				 (uint32_t)(take - VSOCK_HDR_SIZE), 0, 0);
			gm__write(&gm, TX_AVAIL + 4 + 2u * (count / 1), &count, 2);
			count += 2;
		} else {
			ring_put_desc(&gm, TX_DESC, count, at, (uint32_t)take, 0, 0);
			gm__write(&gm, TX_AVAIL + 4 + 2u * count, &count, 2);
			count++;
		}
		at += (take + 15) & ~15ull;
		off += take;
	}
	/* Publish the heads written so far (some slots may hold stale heads:
	 * that is part of what is fuzzed). */
	gm__write(&gm, TX_AVAIL + 2, &count, 2);
	vsock_model__kick_tx(model);
	vsock_model__kick_rx(model);
	/* Accept and drop what the model connected, so the backlog stays free. */
	int fd;
	while ((fd = accept(host_listener, NULL, NULL)) >= 0)
		close(fd);
	struct vsock_stats st;
	vsock_model__stats(model, &st);
	assert(st.conns_opened >= st.conns_closed);
	return 0;
}
