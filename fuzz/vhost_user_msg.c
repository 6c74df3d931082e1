/* Fuzzes the vhost-user back end's message handling: each input is a
 * sequence of messages (12-byte header + payload) handed to the back end
 * as if received from a front end; replies go to a socketpair that is
 * drained. No fds are attached, so every fd-carrying request must be
 * refused by the checks. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user/backend.h"
#include "vhost_user/conn.h"

static int get_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	(void)dev;
	if (off > 8 || len > 8 - off)
		return -1;
	memset(buf, 3, len);
	return 0;
}
static void q_noop(void *dev, unsigned int q) { (void)dev; (void)q; }

static const struct vhu_backend_ops ops = {
	.features = 1ull << 32, .nr_queues = 2, .get_config = get_config,
	.queue_start = q_noop, .queue_stop = q_noop, .queue_kick = q_noop,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evloop *loop;
	static int sv[2] = { -1, -1 };
	static struct vhu_backend be;
	if (!loop) {
		if (evloop__new(&loop) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
			abort();
	}
	vhu_backend__init(&be, loop, &ops, NULL);
	be.sock = sv[0];
	size_t off = 0;
	while (size - off >= VHU_HDR_SIZE) {
		struct vhu_msg m;
		memset(&m, 0, sizeof(m));
		memcpy(&m.hdr, data + off, VHU_HDR_SIZE);
		off += VHU_HDR_SIZE;
		size_t take = m.hdr.size < size - off ? m.hdr.size : size - off;
		if (take > sizeof(m.p))
			take = sizeof(m.p);
		memcpy(&m.p, data + off, take);
		off += take;
		m.nfds = 0;
		int r = vhu_backend__handle(&be, &m);
		(void)r;
		uint8_t sink[4096];
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	/* Release everything except the shared socket. */
	be.sock = -1;
	vhu_backend__release(&be);
	return 0;
}
