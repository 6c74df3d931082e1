/* virtio-net device (ID 1) on a tap: frames move in userspace between the
 * queues and the tap fd (these hosts have no vhost-net). The 12-byte
 * virtio_net_hdr_v1 is stripped on tx and written as "no offload, one
 * buffer" on rx. Spec: "tap=<ifname>" or "fd=<open tap fd>", plus
 * "mac=52:54:00:12:34:56" (else a fixed locally administered one). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mmio.h"
#include "net.h"

#define NET_F_MAC 5
#define NET_HDR 12
#define NET_MAX_FRAME 65550u
#define NET_BUDGET 256

enum { NET_RXQ, NET_TXQ, NET_NR_QUEUES };

struct net_dev {
	struct virtio_mmio t;
	struct vm *vm;
	int tap;
	bool owns_tap, polling;
	uint8_t mac[6];
	struct vq_chain chain;
};

static void net_tap_interest(struct net_dev *n, bool want)
{
	if (n->polling != want && !vm__loop_mod(n->vm, n->tap, want ? EPOLLIN : 0))
		n->polling = want;
}

/* tap → guest, while both a frame and an rx buffer are there. */
static void net_rx(struct net_dev *n)
{
	const struct guest_mem *gm = virtio_mmio__gm(&n->t);
	struct virtq *vq = &n->t.vq[NET_RXQ];
	struct iovec iov[64];
	bool pushed = false;
	for (unsigned int budget = NET_BUDGET; budget; budget--) {
		int got = virtq__pop(vq, gm, &n->chain);
		if (got < 0) {
			virtio_mmio__fail(&n->t, "rx queue: %s", virtq__error_text(vq->error));
			break;
		}
		if (!got) {
			/* No buffers: stop reading the tap until the driver adds some. */
			net_tap_interest(n, false);
			break;
		}
		if (n->chain.in_len < NET_HDR || n->chain.nr_out) {
			virtio_mmio__fail(&n->t, "rx buffer without room for the header");
			break;
		}
		int cnt = vq_chain__iov(&n->chain, gm, true, NET_HDR, n->chain.in_len - NET_HDR, iov, 64);
		ssize_t r = cnt > 0 ? readv(n->tap, iov, cnt) : -1;
		if (r < 0) {
			virtq__unpop(vq);
			break; /* EAGAIN: the tap is empty */
		}
		uint8_t hdr[NET_HDR] = { 0 };
		hdr[10] = 1; /* num_buffers */
		vq_chain__write(&n->chain, gm, 0, hdr, NET_HDR);
		virtq__push(vq, gm, n->chain.head, NET_HDR + (uint32_t)r);
		pushed = true;
	}
	if (pushed)
		virtio_mmio__notify_queue(&n->t, NET_RXQ);
}

/* guest → tap. A frame the tap refuses (full, down) is dropped, as a wire
 * would drop it. */
static void net_tx(struct net_dev *n)
{
	const struct guest_mem *gm = virtio_mmio__gm(&n->t);
	struct virtq *vq = &n->t.vq[NET_TXQ];
	struct iovec iov[64];
	bool pushed = false;
	unsigned int budget = NET_BUDGET;
	for (; budget; budget--) {
		int got = virtq__pop(vq, gm, &n->chain);
		if (got < 0) {
			virtio_mmio__fail(&n->t, "tx queue: %s", virtq__error_text(vq->error));
			break;
		}
		if (!got)
			break;
		uint32_t len = n->chain.out_len;
		if (len < NET_HDR || len - NET_HDR > NET_MAX_FRAME || n->chain.nr_in) {
			virtio_mmio__fail(&n->t, "tx frame of %u bytes", len);
			break;
		}
		int cnt = vq_chain__iov(&n->chain, gm, false, NET_HDR, len - NET_HDR, iov, 64);
		if (cnt > 0 && writev(n->tap, iov, cnt) < 0)
			(void)0;
		virtq__push(vq, gm, n->chain.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_mmio__notify_queue(&n->t, NET_TXQ);
	/* Out of budget with frames left: a driver using EVENT_IDX will not
	 * notify again for them, so queue our own kick (after other fds). */
	if (!budget)
		virtio_mmio__rekick(&n->t, NET_TXQ);
}

static void net_tap_ready(void *opaque, uint32_t events)
{
	struct net_dev *n = opaque;
	(void)events;
	virtio_mmio__lock(&n->t);
	if (virtio_mmio__running(&n->t))
		net_rx(n);
	else
		net_tap_interest(n, false);
	virtio_mmio__unlock(&n->t);
}

static void net_notify(void *dev, unsigned int q)
{
	struct net_dev *n = dev;
	if (q == NET_TXQ) {
		net_tx(n);
	} else {
		net_tap_interest(n, true);
		net_rx(n);
	}
}

static void net_read_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct net_dev *n = dev;
	uint8_t cfg[8] = { 0 };
	memcpy(cfg, n->mac, 6);
	cfg[6] = 1; /* status: link up (only read when VIRTIO_NET_F_STATUS) */
	memcpy(buf, cfg + off, len);
}

static int net_activate(void *dev)
{
	(void)dev;
	return 0;
}

static void net_reset(void *dev)
{
	struct net_dev *n = dev;
	net_tap_interest(n, false);
}

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET, .nr_queues = NET_NR_QUEUES, .queue_max = 256,
	.features = 1ull << NET_F_MAC, .config_size = 8, .read_config = net_read_config,
	.activate = net_activate, .reset = net_reset, .notify = net_notify,
};

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { 0 };
	if (strlen(name) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int net_init_one(struct vm *vm, const char *spec, void **state)
{
	char v[64];
	int r;
	struct net_dev *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->vm = vm;
	memcpy(n->mac, (uint8_t[6]){ 0x52, 0x54, 0x00, 0x4a, 0x4f, 0x59 }, 6);
	if (!virtio_spec__get(spec, "mac", v, sizeof(v)) && parse_mac(v, n->mac)) {
		vm__device_error(vm, "net", "bad mac '%s'", v);
		r = -EINVAL;
		goto err_free;
	}
	if (!virtio_spec__get(spec, "fd", v, sizeof(v))) {
		n->tap = atoi(v);
	} else if (!virtio_spec__get(spec, "tap", v, sizeof(v))) {
		n->tap = open_tap(v);
		if (n->tap < 0) {
			r = n->tap;
			vm__device_error(vm, "net", "tap %s: %s", v, strerror(-r));
			goto err_free;
		}
		n->owns_tap = true;
	} else {
		vm__device_error(vm, "net", "spec '%s' needs tap=<name> or fd=<n>", spec);
		r = -EINVAL;
		goto err_free;
	}
	int fl = fcntl(n->tap, F_GETFL);
	if (fl < 0 || fcntl(n->tap, F_SETFL, fl | O_NONBLOCK)) {
		r = -EBADF;
		goto err_tap;
	}
	r = virtio_mmio__init(&n->t, vm, "net", &net_ops, n);
	if (r)
		goto err_tap;
	r = vm__loop_add(vm, n->tap, 0, net_tap_ready, n);
	if (r)
		goto err_mmio;
	*state = n;
	return 0;
err_mmio:
	virtio_mmio__exit(&n->t);
err_tap:
	if (n->owns_tap)
		close(n->tap);
err_free:
	free(n);
	return r;
}

static void net_exit_one(struct vm *vm, void *state)
{
	struct net_dev *n = state;
	vm__loop_del(vm, n->tap);
	virtio_mmio__exit(&n->t);
	if (n->owns_tap)
		close(n->tap);
	free(n);
}

const struct device_ops net_device_ops = {
	.type = "net",
	.init_one = net_init_one,
	.exit_one = net_exit_one,
};
