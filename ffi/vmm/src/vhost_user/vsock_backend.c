#include "vsock_backend.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../seccomp.h"
#include "../virtio/vsock_model.h"
#include "backend.h"

#define VSOCK_QUEUES 2 /* rx, tx: QEMU keeps the event queue itself */

struct vhost_vsock {
	struct evloop *loop;
	struct vhu_backend be;
	struct vsock_model *model;
	uint64_t cid;
	int listen_fd, stop_fd;
	bool stop;
	char err[256];
};

static int vv_get_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct vhost_vsock *v = dev;
	uint8_t cfg[8];
	memcpy(cfg, &v->cid, 8); /* le64 guest_cid */
	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(buf, cfg + off, len);
	return 0;
}

static void vv_queue_kick(void *dev, unsigned int q)
{
	struct vhost_vsock *v = dev;
	if (q == 0)
		vsock_model__kick_rx(v->model);
	else
		vsock_model__kick_tx(v->model);
}

static void vv_queue_start(void *dev, unsigned int q)
{
	(void)dev;
	(void)q;
}

/* The driver let go of its rings (reset, shutdown, reboot): its sockets are
 * gone, so are ours. */
static void vv_queue_stop(void *dev, unsigned int q)
{
	struct vhost_vsock *v = dev;
	(void)q;
	if (!v->be.vr[0].started && !v->be.vr[1].started)
		vsock_model__reset(v->model);
}

static const struct vhu_backend_ops vv_ops = {
	.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX) |
		    (1ull << VIRTIO_F_RING_INDIRECT_DESC) | (1ull << VIRTIO_F_NOTIFY_ON_EMPTY),
	.nr_queues = VSOCK_QUEUES,
	.get_config = vv_get_config,
	.queue_start = vv_queue_start,
	.queue_stop = vv_queue_stop,
	.queue_kick = vv_queue_kick,
};

static void env_notify(void *opaque, unsigned int q)
{
	struct vhost_vsock *v = opaque;
	vhu_backend__notify(&v->be, q);
}

static void env_error(void *opaque, const char *text)
{
	struct vhost_vsock *v = opaque;
	snprintf(v->err, sizeof(v->err), "vsock: %s", text);
	for (unsigned int q = 0; q < VSOCK_QUEUES; q++)
		if (v->be.vr[q].vq.error)
			vhu_backend__ring_error(&v->be, q);
}

static int env_add(void *opaque, int fd, uint32_t ev, vsock_loop_fn fn, void *cb)
{
	struct vhost_vsock *v = opaque;
	return evloop__add(v->loop, fd, ev, fn, cb);
}

static int env_mod(void *opaque, int fd, uint32_t ev)
{
	struct vhost_vsock *v = opaque;
	return evloop__mod(v->loop, fd, ev);
}

static int env_del(void *opaque, int fd)
{
	struct vhost_vsock *v = opaque;
	return evloop__del(v->loop, fd);
}

static void stop_ready(void *opaque, uint32_t events)
{
	struct vhost_vsock *v = opaque;
	(void)events;
	v->stop = true;
}

static void listen_ready(void *opaque, uint32_t events)
{
	struct vhost_vsock *v = opaque;
	(void)events;
	int fd = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* One front end per back end, as vhost-user intends. */
	evloop__del(v->loop, v->listen_fd);
	int r = vhu_backend__attach(&v->be, fd);
	if (r) {
		close(fd);
		snprintf(v->err, sizeof(v->err), "attach: %s", strerror(-r));
		v->stop = true;
	}
}

static int listen_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void vv_free(struct vhost_vsock *v, const char *socket_path)
{
	vhu_backend__release(&v->be);
	vsock_model__free(v->model);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(socket_path);
	}
	evloop__free(v->loop);
	free(v);
}

static int vv_new(const char *socket_path, const char *uds, uint64_t cid, int stop_fd,
		  struct vhost_vsock **out, char *err, size_t errlen)
{
	int r;
	struct vhost_vsock *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->cid = cid;
	v->listen_fd = -1;
	v->stop_fd = stop_fd;
	r = evloop__new(&v->loop);
	if (r)
		goto err_free;
	vhu_backend__init(&v->be, v->loop, &vv_ops, v);
	struct vsock_env env = {
		.gm = &v->be.gm, .rxq = &v->be.vr[0].vq, .txq = &v->be.vr[1].vq, .opaque = v,
		.notify = env_notify, .error = env_error,
		.loop_add = env_add, .loop_mod = env_mod, .loop_del = env_del,
	};
	r = vsock_model__new(&env, cid, uds, &v->model);
	if (r) {
		snprintf(err, errlen, "hybrid vsock socket %s: %s", uds, strerror(-r));
		goto err_loop;
	}
	v->listen_fd = listen_unix(socket_path);
	if (v->listen_fd < 0) {
		r = v->listen_fd;
		snprintf(err, errlen, "vhost-user socket %s: %s", socket_path, strerror(-r));
		goto err_model;
	}
	r = evloop__add(v->loop, v->listen_fd, EPOLLIN, listen_ready, v);
	if (!r && stop_fd >= 0)
		r = evloop__add(v->loop, stop_fd, EPOLLIN, stop_ready, v);
	if (r) {
		snprintf(err, errlen, "event loop: %s", strerror(-r));
		goto err_listen;
	}
	*out = v;
	return 0;
err_listen:
	close(v->listen_fd);
	unlink(socket_path);
err_model:
	vsock_model__free(v->model);
err_loop:
	evloop__free(v->loop);
err_free:
	free(v);
	return r;
}

static int vv_run(struct vhost_vsock *v, char *err, size_t errlen)
{
	while (!v->stop && !v->be.disconnected) {
		int r = evloop__run_once(v->loop, -1);
		if (r < 0) {
			snprintf(err, errlen, "event loop: %s", strerror(-r));
			return r;
		}
	}
	/* A guest that broke its rings is reported, but it is no reason for
	 * the back end to fail: QEMU decides what happens to the device. */
	if (v->be.err[0]) {
		snprintf(err, errlen, "%s", v->be.err);
		return -EPROTO;
	}
	if (v->err[0])
		snprintf(err, errlen, "%s", v->err);
	return 0;
}

int vhost_vsock__serve(const char *socket_path, const char *uds, uint64_t guest_cid,
		       int stop_fd, char *err, size_t errlen)
{
	struct vhost_vsock *v;
	int r = vv_new(socket_path, uds, guest_cid, stop_fd, &v, err, errlen);
	if (r)
		return r;
	r = vv_run(v, err, errlen);
	vv_free(v, socket_path);
	return r;
}

struct vhost_vsock_server {
	struct vhost_vsock *v;
	char *socket_path;
	int stop_fd;
	pthread_t thread;
	int result;
	atomic_bool done;
	char err[256];
};

static void *server_main(void *arg)
{
	struct vhost_vsock_server *s = arg;
	pthread_setname_np(pthread_self(), "joey-vhu-vsock");
	/* It parses what a guest wrote, like a VM's I/O loop: the same
	 * confinement, and fail closed without it (docs/security.md). */
	s->result = seccomp__install(SECCOMP_IO);
	if (s->result)
		snprintf(s->err, sizeof(s->err), "seccomp: %s", strerror(-s->result));
	else
		s->result = vv_run(s->v, s->err, sizeof(s->err));
	atomic_store(&s->done, true);
	return NULL;
}

int vhost_vsock__running(struct vhost_vsock_server *s)
{
	return !atomic_load(&s->done);
}

int vhost_vsock__start(const char *socket_path, const char *uds, uint64_t guest_cid,
		       struct vhost_vsock_server **out, char *err, size_t errlen)
{
	int r;
	struct vhost_vsock_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->socket_path = strdup(socket_path);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->socket_path || s->stop_fd < 0) {
		r = -ENOMEM;
		goto err;
	}
	r = vv_new(socket_path, uds, guest_cid, s->stop_fd, &s->v, err, errlen);
	if (r)
		goto err;
	r = -pthread_create(&s->thread, NULL, server_main, s);
	if (r) {
		vv_free(s->v, socket_path);
		goto err;
	}
	*out = s;
	return 0;
err:
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s->socket_path);
	free(s);
	return r;
}

int vhost_vsock__stop(struct vhost_vsock_server *s, char *err, size_t errlen)
{
	uint64_t one = 1;
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		(void)0;
	pthread_join(s->thread, NULL);
	int r = s->result;
	if (err && errlen)
		snprintf(err, errlen, "%s", s->err);
	vv_free(s->v, s->socket_path);
	close(s->stop_fd);
	free(s->socket_path);
	free(s);
	return r;
}
