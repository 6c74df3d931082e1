/* virtio-vsock device (ID 19) for the built-in VMM: the transport-neutral
 * model (vsock_model.c) behind the virtio-mmio transport.
 * Spec: "cid=<guest cid, default 3>,uds=<hybrid unix socket path>". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmio.h"
#include "vsock.h"
#include "vsock_model.h"

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NR_QUEUES };

/* A socket callback of the model, run under the transport lock so that it
 * never races with a reset coming from a vCPU. */
struct vsock_fd_cb {
	struct vsock_dev *vs;
	vsock_loop_fn fn;
	void *cb;
};

struct vsock_dev {
	struct virtio_mmio t;
	struct vm *vm;
	struct vsock_model *model;
	uint64_t cid;
	struct vsock_fd_cb **cbs; /* by fd */
	int nr_cbs;
};

static void vsock_read_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct vsock_dev *vs = dev;
	uint8_t cfg[8];
	memcpy(cfg, &vs->cid, 8); /* le64 guest_cid */
	memcpy(buf, cfg + off, len);
}

static int vsock_activate(void *dev)
{
	(void)dev;
	return 0;
}

static void vsock_reset(void *dev)
{
	struct vsock_dev *vs = dev;
	if (vs->model)
		vsock_model__reset(vs->model);
}

static void vsock_notify(void *dev, unsigned int q)
{
	struct vsock_dev *vs = dev;
	if (q == VSOCK_RXQ)
		vsock_model__kick_rx(vs->model);
	else if (q == VSOCK_TXQ)
		vsock_model__kick_tx(vs->model);
	/* The event queue only carries transport resets, which joey never sends. */
}

static const struct virtio_dev_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.nr_queues = VSOCK_NR_QUEUES,
	.queue_max = 256,
	.features = 0,
	.config_size = 8,
	.read_config = vsock_read_config,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.notify = vsock_notify,
};

static void env_notify(void *opaque, unsigned int q)
{
	struct vsock_dev *vs = opaque;
	(void)q;
	virtio_mmio__signal(&vs->t);
}

static void env_error(void *opaque, const char *text)
{
	struct vsock_dev *vs = opaque;
	virtio_mmio__fail(&vs->t, "%s", text);
}

/* A connection was reset for a host-side reason: the VM's error event
 * carries it to the shim's log; the device itself keeps running. */
static void env_note(void *opaque, const char *text)
{
	struct vsock_dev *vs = opaque;
	vm__device_error(vs->vm, "vsock", "%s", text);
}

static void fd_trampoline(void *opaque, uint32_t events)
{
	struct vsock_fd_cb *c = opaque;
	struct virtio_mmio *t = &c->vs->t;
	virtio_mmio__lock(t);
	c->fn(c->cb, events);
	virtio_mmio__unlock(t);
}

static int env_add(void *opaque, int fd, uint32_t ev, vsock_loop_fn fn, void *cb)
{
	struct vsock_dev *vs = opaque;
	if (fd < 0)
		return -EBADF;
	if (fd >= vs->nr_cbs) {
		int n = fd + 64;
		struct vsock_fd_cb **g = realloc(vs->cbs, sizeof(*g) * (size_t)n);
		if (!g)
			return -ENOMEM;
		memset(g + vs->nr_cbs, 0, sizeof(*g) * (size_t)(n - vs->nr_cbs));
		vs->cbs = g;
		vs->nr_cbs = n;
	}
	if (vs->cbs[fd])
		return -EEXIST;
	struct vsock_fd_cb *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct vsock_fd_cb){ vs, fn, cb };
	int r = vm__loop_add(vs->vm, fd, ev, fd_trampoline, c);
	if (r) {
		free(c);
		return r;
	}
	vs->cbs[fd] = c;
	return 0;
}

static int env_mod(void *opaque, int fd, uint32_t ev)
{
	struct vsock_dev *vs = opaque;
	return vm__loop_mod(vs->vm, fd, ev);
}

static int env_del(void *opaque, int fd)
{
	struct vsock_dev *vs = opaque;
	if (fd < 0 || fd >= vs->nr_cbs || !vs->cbs[fd])
		return -ENOENT;
	int r = vm__loop_del(vs->vm, fd);
	/* The loop skips entries deleted during its batch: safe to free. */
	free(vs->cbs[fd]);
	vs->cbs[fd] = NULL;
	return r;
}

static int vsock_init_one(struct vm *vm, const char *spec, void **state)
{
	char uds[108], cid[24];
	int r;
	if (virtio_spec__get(spec, "uds", uds, sizeof(uds))) {
		vm__device_error(vm, "vsock", "spec '%s' needs uds=<path>", spec);
		return -EINVAL;
	}
	struct vsock_dev *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->vm = vm;
	vs->cid = 3;
	if (!virtio_spec__get(spec, "cid", cid, sizeof(cid))) {
		char *end;
		vs->cid = strtoull(cid, &end, 0);
		if (*end) {
			r = -EINVAL;
			goto err_free;
		}
	}
	r = virtio_mmio__init(&vs->t, vm, "vsock", &vsock_ops, vs);
	if (r)
		goto err_free;
	struct vsock_env env = {
		.gm = virtio_mmio__gm(&vs->t), .rxq = &vs->t.vq[VSOCK_RXQ],
		.txq = &vs->t.vq[VSOCK_TXQ], .opaque = vs, .notify = env_notify, .error = env_error,
		.loop_add = env_add, .loop_mod = env_mod, .loop_del = env_del, .note = env_note,
	};
	r = vsock_model__new(&env, vs->cid, uds, &vs->model);
	if (r)
		goto err_mmio;
	*state = vs;
	return 0;
err_mmio:
	virtio_mmio__exit(&vs->t);
err_free:
	free(vs);
	return r;
}

static void vsock_exit_one(struct vm *vm, void *state)
{
	struct vsock_dev *vs = state;
	(void)vm;
	virtio_mmio__exit(&vs->t);
	vsock_model__free(vs->model);
	for (int i = 0; i < vs->nr_cbs; i++)
		free(vs->cbs[i]);
	free(vs->cbs);
	free(vs);
}

const struct device_ops vsock_device_ops = {
	.type = "vsock",
	.init_one = vsock_init_one,
	.exit_one = vsock_exit_one,
};
