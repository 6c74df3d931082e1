/* virtio-fs device (ID 26) as a vhost-user front end: joey keeps the
 * virtio-mmio transport and config (tag, request-queue count); virtiofsd
 * (the back end) maps guest memory from the memfd and serves the rings.
 * Kicks are relayed: the transport consumes the guest's notification and
 * signals the ring's kick eventfd held by virtiofsd; virtiofsd's call
 * eventfd raises the transport's interrupt.
 * Spec: "socket=<virtiofsd socket>,tag=<mount tag>". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../vhost_user/frontend.h"
#include "fs.h"
#include "mmio.h"

#define FS_TAG_LEN 36
#define FS_QUEUES 2 /* hiprio + one request queue */

struct fs_dev;

/* One ring handed to virtiofsd: the eventfds it kicks on and calls on. */
struct fs_ring {
	struct fs_dev *f;
	int kick, call;
	bool started;
};

struct fs_dev {
	struct virtio_mmio t;
	struct vm *vm;
	struct vhu_frontend fe;
	char tag[FS_TAG_LEN];
	struct fs_ring ring[FS_QUEUES];
	bool mem_shared;
};

static void fs_read_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct fs_dev *f = dev;
	uint8_t cfg[FS_TAG_LEN + 4];
	uint32_t nreq = FS_QUEUES - 1;
	memcpy(cfg, f->tag, FS_TAG_LEN); /* NUL-padded, not terminated */
	memcpy(cfg + FS_TAG_LEN, &nreq, 4);
	memcpy(buf, cfg + off, len);
}

static void fs_stop_rings(struct fs_dev *f)
{
	for (unsigned int q = 0; q < FS_QUEUES; q++) {
		uint16_t base;
		if (f->ring[q].started && vhu_frontend__stop_ring(&f->fe, q, &base))
			vm__device_error(f->vm, "fs", "virtiofsd did not stop ring %u", q);
		f->ring[q].started = false;
	}
}

static int fs_activate(void *dev)
{
	struct fs_dev *f = dev;
	const struct guest_mem *gm = virtio_mmio__gm(&f->t);
	int r = vhu_frontend__set_features(&f->fe, f->t.driver_features);
	if (!r && !f->mem_shared) {
		r = vhu_frontend__set_mem_table(&f->fe, gm);
		f->mem_shared = !r;
	}
	for (unsigned int q = 0; !r && q < FS_QUEUES; q++) {
		struct virtq *vq = &f->t.vq[q];
		if (!vq->ready)
			continue;
		r = vhu_frontend__start_ring(&f->fe, gm, q, vq->num, vq->desc, vq->avail, vq->used,
					     f->ring[q].kick, f->ring[q].call);
		f->ring[q].started = !r;
	}
	if (r)
		vm__device_error(f->vm, "fs", "virtiofsd refused the device setup: %s", strerror(-r));
	return r;
}

static void fs_reset(void *dev)
{
	fs_stop_rings(dev);
}

static void fs_notify(void *dev, unsigned int q)
{
	struct fs_dev *f = dev;
	uint64_t one = 1;
	if (q < FS_QUEUES && f->ring[q].started && write(f->ring[q].kick, &one, sizeof(one)) < 0)
		(void)0;
}

static void fs_call_ready(void *opaque, uint32_t events)
{
	struct fs_ring *ring = opaque;
	uint64_t n;
	(void)events;
	if (read(ring->call, &n, sizeof(n)) < 0)
		return;
	/* virtiofsd filled the used ring: raise the transport's interrupt. */
	virtio_mmio__signal(&ring->f->t);
}

static void fs_rings_close(struct fs_dev *f)
{
	for (unsigned int q = 0; q < FS_QUEUES; q++) {
		struct fs_ring *ring = &f->ring[q];
		if (ring->call >= 0) {
			vm__loop_del(f->vm, ring->call);
			close(ring->call);
		}
		if (ring->kick >= 0)
			close(ring->kick);
		ring->call = ring->kick = -1;
	}
}

static const struct virtio_dev_ops fs_ops = {
	.device_id = VIRTIO_ID_FS, .nr_queues = FS_QUEUES, .queue_max = 128,
	.features = 0, .config_size = FS_TAG_LEN + 4, .read_config = fs_read_config,
	.activate = fs_activate, .reset = fs_reset, .notify = fs_notify,
};

static int fs_init_one(struct vm *vm, const char *spec, void **state)
{
	char path[108], tag[FS_TAG_LEN + 1];
	int r;
	if (virtio_spec__get(spec, "socket", path, sizeof(path)) ||
	    virtio_spec__get(spec, "tag", tag, sizeof(tag)) || !tag[0]) {
		vm__device_error(vm, "fs", "spec '%s' needs socket=<path> and tag=<1-36 bytes>",
				 spec);
		return -EINVAL;
	}
	struct fs_dev *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->vm = vm;
	memcpy(f->tag, tag, strlen(tag));
	for (unsigned int q = 0; q < FS_QUEUES; q++)
		f->ring[q] = (struct fs_ring){ f, -1, -1, false };
	r = vhu_frontend__connect(&f->fe, path);
	if (r) {
		vm__device_error(vm, "fs", "virtiofsd at %s: %s", path, strerror(-r));
		goto err_free;
	}
	for (unsigned int q = 0; q < FS_QUEUES; q++) {
		struct fs_ring *ring = &f->ring[q];
		ring->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ring->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ring->kick < 0 || ring->call < 0) {
			r = -EMFILE;
			goto err_fds;
		}
		r = vm__loop_add(vm, ring->call, EPOLLIN, fs_call_ready, ring);
		if (r)
			goto err_fds;
	}
	r = virtio_mmio__init(&f->t, vm, "fs", &fs_ops, f);
	if (r)
		goto err_fds;
	*state = f;
	return 0;
err_fds:
	fs_rings_close(f);
	vhu_frontend__close(&f->fe);
err_free:
	free(f);
	return r;
}

static void fs_exit_one(struct vm *vm, void *state)
{
	struct fs_dev *f = state;
	(void)vm;
	virtio_mmio__exit(&f->t);
	vhu_frontend__close(&f->fe);
	fs_rings_close(f);
	free(f);
}

const struct device_ops fs_device_ops = {
	.type = "fs",
	.init_one = fs_init_one,
	.exit_one = fs_exit_one,
};
