#include "mmio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAGIC 0x74726976 /* "virt" */
#define VENDOR 0x59454f4a /* "JOEY" */
#define INT_VRING 1u
#define INT_CONFIG 2u

/* Register offsets (§4.2.2). */
enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
	R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020, R_DRV_FEAT_SEL = 0x024,
	R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
	R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084, R_QUEUE_AVAIL_LO = 0x090,
	R_QUEUE_AVAIL_HI = 0x094, R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4,
	R_SHM_SEL = 0x0ac, R_SHM_LEN_LO = 0x0b0, R_SHM_LEN_HI = 0x0b4, R_SHM_BASE_LO = 0x0b8,
	R_SHM_BASE_HI = 0x0bc, R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

static uint64_t offered(const struct virtio_mmio *t)
{
	return t->ops->features | (1ull << VIRTIO_F_VERSION_1) |
	       (1ull << VIRTIO_F_RING_EVENT_IDX) | (1ull << VIRTIO_F_RING_INDIRECT_DESC);
}

const struct guest_mem *virtio_mmio__gm(struct virtio_mmio *t)
{
	return vm__guest_mem(t->vm);
}

void virtio_mmio__lock(struct virtio_mmio *t) { pthread_mutex_lock(&t->lock); }
void virtio_mmio__unlock(struct virtio_mmio *t) { pthread_mutex_unlock(&t->lock); }

bool virtio_mmio__running(struct virtio_mmio *t)
{
	return (t->status & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void raise_irq(struct virtio_mmio *t, uint32_t why)
{
	uint64_t one = 1;
	__atomic_fetch_or(&t->int_status, why, __ATOMIC_SEQ_CST);
	if (t->irq_fd >= 0) {
		if (write(t->irq_fd, &one, sizeof(one)) < 0)
			(void)0; /* counter full: an interrupt is pending anyway */
	} else {
		vm__irq_trigger(t->vm, t->gsi);
	}
}

void virtio_mmio__signal(struct virtio_mmio *t)
{
	raise_irq(t, INT_VRING);
}

void virtio_mmio__notify_queue(struct virtio_mmio *t, unsigned int q)
{
	if (q < t->ops->nr_queues && virtq__should_notify(&t->vq[q], virtio_mmio__gm(t)))
		raise_irq(t, INT_VRING);
}

void virtio_mmio__rekick(struct virtio_mmio *t, unsigned int q)
{
	uint64_t one = 1;
	if (q < t->ops->nr_queues && t->kick[q].fd >= 0 && write(t->kick[q].fd, &one, sizeof(one)) < 0)
		(void)0; /* counter full: a kick is pending anyway */
}

void virtio_mmio__fail(struct virtio_mmio *t, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return; /* reported once per incident */
	/* §2.1.2: the device stops using its queues until the driver resets. */
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	for (unsigned int i = 0; i < t->ops->nr_queues; i++)
		t->vq[i].ready = false;
	vm__device_error(t->vm, t->name, "%s (device needs reset)", msg);
	raise_irq(t, INT_CONFIG);
}

static void device_reset(struct virtio_mmio *t)
{
	t->ops->reset(t->dev);
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtq__reset(&t->vq[i]);
	t->status = 0;
	t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
	t->driver_features = 0;
	__atomic_store_n(&t->int_status, 0, __ATOMIC_SEQ_CST);
}

static void set_status(struct virtio_mmio *t, uint32_t v)
{
	if (!v) {
		device_reset(t);
		return;
	}
	uint32_t added = v & ~t->status;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		/* Modern only: VERSION_1 required, nothing we did not offer. */
		if (!(t->driver_features & (1ull << VIRTIO_F_VERSION_1)) ||
		    (t->driver_features & ~offered(t)))
			v &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_NEEDS_RESET)) {
		const struct guest_mem *gm = virtio_mmio__gm(t);
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			t->status = v & ~VIRTIO_STATUS_DRIVER_OK;
			virtio_mmio__fail(t, "DRIVER_OK without FEATURES_OK");
			return;
		}
		for (unsigned int i = 0; i < t->ops->nr_queues; i++) {
			struct virtq *q = &t->vq[i];
			q->event_idx = t->driver_features & (1ull << VIRTIO_F_RING_EVENT_IDX);
			q->indirect = t->driver_features & (1ull << VIRTIO_F_RING_INDIRECT_DESC);
			if (q->ready && virtq__validate(q, gm)) {
				t->status = v;
				virtio_mmio__fail(t, "queue %u: %s", i, virtq__error_text(q->error));
				return;
			}
		}
		t->status = v;
		if (t->ops->activate(t->dev)) {
			virtio_mmio__fail(t, "activation failed");
			return;
		}
		/* Buffers may be queued already. */
		for (unsigned int i = 0; i < t->ops->nr_queues; i++)
			if (t->vq[i].ready)
				t->ops->notify(t->dev, i);
		return;
	}
	t->status = v | (t->status & VIRTIO_STATUS_NEEDS_RESET);
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *q = t->queue_sel < t->ops->nr_queues ? &t->vq[t->queue_sel] : NULL;
	switch (off) {
	case R_MAGIC: return MAGIC;
	case R_VERSION: return 2;
	case R_DEVICE_ID: return t->ops->device_id;
	case R_VENDOR_ID: return VENDOR;
	case R_DEV_FEAT:
		return t->dev_feat_sel < 2 ? (uint32_t)(offered(t) >> (32 * t->dev_feat_sel)) : 0;
	case R_QUEUE_NUM_MAX: return q ? t->ops->queue_max : 0;
	case R_QUEUE_READY: return q ? q->ready : 0;
	case R_INT_STATUS: return __atomic_load_n(&t->int_status, __ATOMIC_SEQ_CST);
	case R_STATUS: return t->status;
	case R_SHM_LEN_LO: case R_SHM_LEN_HI: return 0xffffffff; /* no shared memory */
	case R_SHM_BASE_LO: case R_SHM_BASE_HI: return 0xffffffff;
	case R_CONFIG_GEN: return t->config_gen;
	default: return 0;
	}
}

static void set_addr(uint64_t *a, uint32_t v, bool hi)
{
	*a = hi ? (*a & 0xffffffffull) | ((uint64_t)v << 32) : (*a & ~0xffffffffull) | v;
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *q = t->queue_sel < t->ops->nr_queues ? &t->vq[t->queue_sel] : NULL;
	/* §4.2.2.3: queue layout may change only while the queue is not ready. */
	bool q_writable = q && !q->ready;
	switch (off) {
	case R_DEV_FEAT_SEL: t->dev_feat_sel = v; break;
	case R_DRV_FEAT:
		if (t->drv_feat_sel < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
			uint64_t mask = 0xffffffffull << (32 * t->drv_feat_sel);
			t->driver_features = (t->driver_features & ~mask) |
					     ((uint64_t)v << (32 * t->drv_feat_sel));
		}
		break;
	case R_DRV_FEAT_SEL: t->drv_feat_sel = v; break;
	case R_QUEUE_SEL: t->queue_sel = v; break;
	case R_QUEUE_NUM:
		if (q_writable)
			q->num = v > t->ops->queue_max ? 0 : (uint16_t)v;
		break;
	case R_QUEUE_READY:
		if (!q)
			break;
		if (v && !q->ready) {
			if (!q->num)
				q->num = t->ops->queue_max;
			q->ready = true;
		} else if (!v) {
			q->ready = false;
		}
		break;
	case R_QUEUE_NOTIFY:
		/* No ioeventfd on this host: hand the kick to the loop thread. */
		virtio_mmio__rekick(t, v);
		break;
	case R_INT_ACK:
		__atomic_fetch_and(&t->int_status, ~v, __ATOMIC_SEQ_CST);
		break;
	case R_STATUS: set_status(t, v); break;
	case R_QUEUE_DESC_LO: case R_QUEUE_DESC_HI:
		if (q_writable)
			set_addr(&q->desc, v, off == R_QUEUE_DESC_HI);
		break;
	case R_QUEUE_AVAIL_LO: case R_QUEUE_AVAIL_HI:
		if (q_writable)
			set_addr(&q->avail, v, off == R_QUEUE_AVAIL_HI);
		break;
	case R_QUEUE_USED_LO: case R_QUEUE_USED_HI:
		if (q_writable)
			set_addr(&q->used, v, off == R_QUEUE_USED_HI);
		break;
	default: break; /* read-only or unknown: ignored, as the spec allows */
	}
}

static void mmio_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *t = opaque;
	pthread_mutex_lock(&t->lock);
	if (off >= R_CONFIG) {
		uint32_t c = (uint32_t)(off - R_CONFIG);
		if (!is_write) {
			memset(data, 0, len);
			if (c < t->ops->config_size && len <= t->ops->config_size - c)
				t->ops->read_config(t->dev, c, data, len);
		}
		/* Config writes: no device here has writable config. */
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		if (is_write) {
			memcpy(&v, data, 4);
			write_reg(t, off, v);
		} else {
			v = read_reg(t, off);
			memcpy(data, &v, 4);
		}
	} else if (!is_write) {
		memset(data, 0xff, len); /* §4.2.2.2: registers are 32-bit only */
	}
	pthread_mutex_unlock(&t->lock);
}

static void kick_ready(void *opaque, uint32_t events)
{
	struct virtio_mmio_kick *k = opaque;
	struct virtio_mmio *t = k->t;
	uint64_t n;
	(void)events;
	if (read(k->fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (virtio_mmio__running(t) && t->vq[k->q].ready)
		t->ops->notify(t->dev, k->q);
	pthread_mutex_unlock(&t->lock);
}

static void kicks_release(struct virtio_mmio *t)
{
	for (unsigned int i = 0; i < t->ops->nr_queues; i++) {
		struct virtio_mmio_kick *k = &t->kick[i];
		if (k->fd < 0)
			continue;
		vm__loop_del(t->vm, k->fd);
		if (k->ioeventfd)
			vm__ioeventfd_remove(t->vm, t->base + R_QUEUE_NOTIFY, i, k->fd);
		close(k->fd);
		k->fd = -1;
	}
}

int virtio_mmio__init(struct virtio_mmio *t, struct vm *vm, const char *name,
		      const struct virtio_dev_ops *ops, void *dev)
{
	char arg[96];
	int r;
	unsigned int i;
	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->name = name;
	t->ops = ops;
	t->dev = dev;
	t->irq_fd = -1;
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->kick[i] = (struct virtio_mmio_kick){ .t = t, .q = i, .fd = -1 };
	if (ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES || ops->queue_max > VQ_MAX_SIZE)
		return -EINVAL;
	pthread_mutex_init(&t->lock, NULL);
	r = vm__alloc_mmio(vm, VIRTIO_MMIO_SIZE, &t->base);
	if (!r)
		r = vm__alloc_irq(vm, &t->gsi);
	if (r)
		goto err_lock;
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_fd >= 0 && vm__irqfd(vm, t->gsi, t->irq_fd)) {
		close(t->irq_fd);
		t->irq_fd = -1;
	}
	for (i = 0; i < ops->nr_queues; i++) {
		struct virtio_mmio_kick *k = &t->kick[i];
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0) {
			r = -errno;
			goto err_queues;
		}
		k->ioeventfd = !vm__ioeventfd(vm, t->base + R_QUEUE_NOTIFY, i, k->fd);
		r = vm__loop_add(vm, k->fd, EPOLLIN, kick_ready, k);
		if (r)
			goto err_queues;
	}
	r = vm__register_mmio(vm, t->base, VIRTIO_MMIO_SIZE, mmio_access, t);
	if (r)
		goto err_queues;
	snprintf(arg, sizeof(arg), "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)t->base,
		 t->gsi);
	r = vm__cmdline_append(vm, arg);
	if (r)
		goto err_queues; /* the MMIO range stays registered until the VM goes */
	return 0;
err_queues:
	kicks_release(t);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	t->irq_fd = -1;
err_lock:
	pthread_mutex_destroy(&t->lock);
	return r;
}

void virtio_mmio__exit(struct virtio_mmio *t)
{
	/* The core stopped the vCPUs and joined the loop thread before
	 * devices exit, so nothing else touches the transport now. */
	t->ops->reset(t->dev);
	kicks_release(t);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	pthread_mutex_destroy(&t->lock);
}

int virtio_spec__get(const char *spec, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	const char *p = spec;
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = n - klen - 1;
			if (vlen >= len)
				return -ENAMETOOLONG;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = 0;
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}
