#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conn.h"

/* Protocol features joey's back end speaks: acked replies and config space
 * (QEMU's vhost-user-vsock reads the guest CID through GET_CONFIG). */
#define OFFERED_PROTOCOL ((1ull << VHU_PROTOCOL_F_REPLY_ACK) | (1ull << VHU_PROTOCOL_F_CONFIG))

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vhu_backend__init(struct vhu_backend *be, struct evloop *loop,
		       const struct vhu_backend_ops *ops, void *dev)
{
	memset(be, 0, sizeof(*be));
	be->sock = -1;
	be->loop = loop;
	be->ops = ops;
	be->dev = dev;
	for (unsigned int i = 0; i < VHU_BACKEND_MAX_QUEUES; i++) {
		struct vhu_vring *v = &be->vr[i];
		v->kick_fd = v->call_fd = v->err_fd = -1;
		v->be = be;
		v->index = i;
	}
}

void vhu_backend__notify(struct vhu_backend *be, unsigned int q)
{
	uint64_t one = 1;
	if (q < VHU_BACKEND_MAX_QUEUES && be->vr[q].call_fd >= 0 &&
	    write(be->vr[q].call_fd, &one, sizeof(one)) < 0)
		(void)0; /* counter saturated: the driver is interrupted anyway */
}

void vhu_backend__ring_error(struct vhu_backend *be, unsigned int q)
{
	uint64_t one = 1;
	if (q < VHU_BACKEND_MAX_QUEUES && be->vr[q].err_fd >= 0 &&
	    write(be->vr[q].err_fd, &one, sizeof(one)) < 0)
		(void)0;
}

static void unmap_all(struct vhu_backend *be)
{
	for (unsigned int i = 0; i < VHU_MAX_REGIONS; i++)
		if (be->map[i]) {
			munmap(be->map[i], be->map_len[i]);
			be->map[i] = NULL;
		}
	memset(&be->gm, 0, sizeof(be->gm));
}

static void kick_ready(void *opaque, uint32_t events)
{
	struct vhu_vring *v = opaque;
	uint64_t n;
	(void)events;
	if (read(v->kick_fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	v->be->ops->queue_kick(v->be->dev, v->index);
}

static void ring_stop(struct vhu_backend *be, struct vhu_vring *v)
{
	if (!v->started)
		return;
	if (v->kick_fd >= 0)
		evloop__del(be->loop, v->kick_fd);
	v->started = false;
	v->vq.ready = false;
	v->base = v->vq.last_avail;
	be->ops->queue_stop(be->dev, v->index);
}

/* A ring runs once it has addresses and a kick fd and is enabled (enable
 * is implicit without PROTOCOL_FEATURES). */
static void ring_maybe_start(struct vhu_backend *be, struct vhu_vring *v)
{
	bool proto = be->acked_features & (1ull << VHU_F_PROTOCOL_FEATURES);
	if (v->started || !v->addr_set || v->kick_fd < 0 || (proto && !v->enabled))
		return;
	struct virtq *q = &v->vq;
	uint16_t num = q->num;
	virtq__reset(q);
	q->num = num;
	if (gm__gpa_from_user_addr(&be->gm, v->desc_ua, 16ull * num, &q->desc) ||
	    gm__gpa_from_user_addr(&be->gm, v->avail_ua, 6 + 2ull * num, &q->avail) ||
	    gm__gpa_from_user_addr(&be->gm, v->used_ua, 6 + 8ull * num, &q->used) ||
	    virtq__validate(q, &be->gm)) {
		snprintf(be->err, sizeof(be->err), "ring %u: addresses outside shared memory",
			 v->index);
		vhu_backend__ring_error(be, v->index);
		return;
	}
	q->event_idx = be->acked_features & (1ull << VIRTIO_F_RING_EVENT_IDX);
	q->indirect = be->acked_features & (1ull << VIRTIO_F_RING_INDIRECT_DESC);
	q->last_avail = v->base;
	uint16_t *used_idx = gm__ptr(&be->gm, q->used + 2, 2);
	q->used_idx = used_idx ? *used_idx : v->base;
	q->ready = true;
	if (evloop__add(be->loop, v->kick_fd, EPOLLIN, kick_ready, v))
		return;
	v->started = true;
	be->ops->queue_start(be->dev, v->index);
	/* Buffers may have been queued before the first kick reached us. */
	be->ops->queue_kick(be->dev, v->index);
}

static int set_mem_table(struct vhu_backend *be, struct vhu_msg *m)
{
	const struct vhu_mem_table *t = &m->p.mem;
	for (unsigned int i = 0; i < VHU_BACKEND_MAX_QUEUES; i++)
		ring_stop(be, &be->vr[i]);
	unmap_all(be);
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *r = &t->regions[i];
		size_t len = r->size + r->mmap_offset;
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
		if (p == MAP_FAILED) {
			int err = -errno;
			unmap_all(be);
			return err;
		}
		be->map[i] = p;
		be->map_len[i] = len;
		struct gm_region reg = { .gpa = r->gpa, .size = r->size,
					 .host = (uint8_t *)p + r->mmap_offset, .fd = -1,
					 .fd_offset = r->mmap_offset, .user_addr = r->user_addr };
		int err = gm__add_region(&be->gm, &reg);
		if (err) {
			unmap_all(be);
			return err;
		}
	}
	/* The mappings keep the memory; the fds are not needed any more. */
	vhu_msg__close_fds(m);
	for (unsigned int i = 0; i < VHU_BACKEND_MAX_QUEUES; i++)
		ring_maybe_start(be, &be->vr[i]);
	return 0;
}

static struct vhu_vring *ring_of(struct vhu_backend *be, uint64_t index)
{
	return index < be->ops->nr_queues ? &be->vr[index] : NULL;
}

/* Replaces a ring's kick/call/err fd with the one the message carries. */
static int set_ring_fd(struct vhu_backend *be, struct vhu_msg *m)
{
	struct vhu_vring *v = ring_of(be, m->p.u64 & VHU_VRING_IDX_MASK);
	if (!v)
		return -EINVAL;
	int fd = (m->p.u64 & VHU_VRING_NOFD) ? -1 : m->fds[0];
	m->nfds = 0; /* ownership moves to the ring */
	switch (m->hdr.request) {
	case VHU_SET_VRING_KICK:
		ring_stop(be, v);
		close_fd(&v->kick_fd);
		v->kick_fd = fd;
		/* Without PROTOCOL_FEATURES a kick fd starts the ring. */
		ring_maybe_start(be, v);
		break;
	case VHU_SET_VRING_CALL:
		close_fd(&v->call_fd);
		v->call_fd = fd;
		break;
	default:
		close_fd(&v->err_fd);
		v->err_fd = fd;
		break;
	}
	return 0;
}

static int reply(struct vhu_backend *be, struct vhu_msg *m, uint32_t size)
{
	struct vhu_msg out;
	memcpy(&out.p, &m->p, size);
	vhu_msg__init(&out, m->hdr.request, VHU_FLAG_REPLY, size);
	return vhu_conn__send(be->sock, &out);
}

static int reply_u64(struct vhu_backend *be, struct vhu_msg *m, uint64_t v)
{
	m->p.u64 = v;
	return reply(be, m, 8);
}

int vhu_backend__handle(struct vhu_backend *be, struct vhu_msg *m)
{
	int r = vhu_msg__check(m);
	struct vhu_vring *v;
	if (r) {
		snprintf(be->err, sizeof(be->err), "malformed %s message",
			 vhu_msg__name(m->hdr.request));
		return r;
	}
	switch (m->hdr.request) {
	case VHU_GET_FEATURES:
		return reply_u64(be, m, be->ops->features | (1ull << VHU_F_PROTOCOL_FEATURES));
	case VHU_SET_FEATURES:
		be->acked_features = m->p.u64;
		break;
	case VHU_GET_PROTOCOL_FEATURES:
		return reply_u64(be, m, OFFERED_PROTOCOL);
	case VHU_SET_PROTOCOL_FEATURES:
		be->acked_protocol = m->p.u64 & OFFERED_PROTOCOL;
		break;
	case VHU_SET_OWNER:
	case VHU_RESET_OWNER:
		break;
	case VHU_RESET_DEVICE:
		for (unsigned int i = 0; i < VHU_BACKEND_MAX_QUEUES; i++)
			ring_stop(be, &be->vr[i]);
		break;
	case VHU_GET_QUEUE_NUM:
		return reply_u64(be, m, be->ops->nr_queues);
	case VHU_SET_MEM_TABLE:
		r = set_mem_table(be, m);
		break;
	case VHU_SET_VRING_NUM:
		v = ring_of(be, m->p.state.index);
		if (!v || !m->p.state.num || m->p.state.num > VQ_MAX_SIZE ||
		    (m->p.state.num & (m->p.state.num - 1)))
			return -EINVAL;
		v->vq.num = (uint16_t)m->p.state.num;
		break;
	case VHU_SET_VRING_BASE:
		v = ring_of(be, m->p.state.index);
		if (!v || m->p.state.num > UINT16_MAX)
			return -EINVAL;
		v->base = (uint16_t)m->p.state.num;
		break;
	case VHU_SET_VRING_ADDR:
		v = ring_of(be, m->p.addr.index);
		if (!v)
			return -EINVAL;
		v->desc_ua = m->p.addr.desc;
		v->avail_ua = m->p.addr.avail;
		v->used_ua = m->p.addr.used;
		v->addr_set = true;
		ring_maybe_start(be, v);
		break;
	case VHU_GET_VRING_BASE:
		v = ring_of(be, m->p.state.index);
		if (!v)
			return -EINVAL;
		ring_stop(be, v);
		v->enabled = false;
		/* The ring is stopped: the front end owns it again. */
		m->p.state.num = v->base;
		return reply(be, m, sizeof(m->p.state));
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		r = set_ring_fd(be, m);
		break;
	case VHU_SET_VRING_ENABLE:
		v = ring_of(be, m->p.state.index);
		if (!v)
			return -EINVAL;
		v->enabled = m->p.state.num != 0;
		if (v->enabled)
			ring_maybe_start(be, v);
		else
			ring_stop(be, v);
		break;
	case VHU_GET_CONFIG: {
		struct vhu_config *c = &m->p.config;
		if (!be->ops->get_config || be->ops->get_config(be->dev, c->offset, c->data, c->size))
			c->size = 0; /* an empty reply tells the front end it failed */
		return reply(be, m, 12 + c->size);
	}
	case VHU_SET_CONFIG:
		break; /* read-only config: accepted and ignored */
	default:
		r = -EOPNOTSUPP; /* answered as a failure when an ack is wanted */
		break;
	}
	/* REPLY_ACK: requests without their own reply answer 0 or failure. */
	if ((m->hdr.flags & VHU_FLAG_NEED_REPLY) &&
	    (be->acked_protocol & (1ull << VHU_PROTOCOL_F_REPLY_ACK))) {
		int s = reply_u64(be, m, r ? 1 : 0);
		return s ? s : 0;
	}
	return r == -EOPNOTSUPP ? 0 : r;
}

static void sock_ready(void *opaque, uint32_t events)
{
	struct vhu_backend *be = opaque;
	struct vhu_msg m;
	(void)events;
	int r = vhu_conn__recv(be->sock, &m);
	if (!r) {
		r = vhu_backend__handle(be, &m);
		vhu_msg__close_fds(&m);
	}
	if (r) {
		if (r != -ECONNRESET && !be->err[0])
			snprintf(be->err, sizeof(be->err), "vhost-user: %s", strerror(-r));
		be->disconnected = true;
		evloop__del(be->loop, be->sock);
	}
}

int vhu_backend__attach(struct vhu_backend *be, int sock)
{
	be->sock = sock;
	return evloop__add(be->loop, sock, EPOLLIN, sock_ready, be);
}

void vhu_backend__release(struct vhu_backend *be)
{
	for (unsigned int i = 0; i < VHU_BACKEND_MAX_QUEUES; i++) {
		struct vhu_vring *v = &be->vr[i];
		ring_stop(be, v);
		close_fd(&v->kick_fd);
		close_fd(&v->call_fd);
		close_fd(&v->err_fd);
	}
	if (be->sock >= 0) {
		if (!be->disconnected)
			evloop__del(be->loop, be->sock);
		close_fd(&be->sock);
	}
	unmap_all(be);
}
