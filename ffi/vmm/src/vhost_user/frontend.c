#include "frontend.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"

#define WANT_PROTOCOL (1ull << VHU_PROTOCOL_F_REPLY_ACK)

static int send_simple(struct vhu_frontend *f, uint32_t req, const void *payload, uint32_t size,
		       const int *fds, unsigned int nfds)
{
	struct vhu_msg m;
	bool ack = f->protocol & (1ull << VHU_PROTOCOL_F_REPLY_ACK);
	vhu_msg__init(&m, req, ack ? VHU_FLAG_NEED_REPLY : 0, size);
	if (size)
		memcpy(&m.p, payload, size);
	if (nfds)
		memcpy(m.fds, fds, sizeof(int) * nfds);
	m.nfds = nfds;
	int r = vhu_conn__send(f->sock, &m);
	if (r || !ack)
		return r;
	r = vhu_conn__recv(f->sock, &m);
	if (r)
		return r;
	vhu_msg__close_fds(&m);
	if (m.hdr.request != req || m.hdr.size != 8)
		return -EPROTO;
	return m.p.u64 ? -EIO : 0;
}

static int get_u64(struct vhu_frontend *f, uint32_t req, uint64_t *out)
{
	struct vhu_msg m;
	vhu_msg__init(&m, req, 0, 0);
	int r = vhu_conn__send(f->sock, &m);
	if (!r)
		r = vhu_conn__recv(f->sock, &m);
	if (r)
		return r;
	vhu_msg__close_fds(&m);
	if (m.hdr.request != req || !(m.hdr.flags & VHU_FLAG_REPLY) || m.hdr.size != 8)
		return -EPROTO;
	*out = m.p.u64;
	return 0;
}

int vhu_frontend__connect(struct vhu_frontend *f, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int r;
	memset(f, 0, sizeof(*f));
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->sock < 0)
		return -errno;
	if (connect(f->sock, (struct sockaddr *)&a, sizeof(a))) {
		r = -errno;
		goto err;
	}
	r = send_simple(f, VHU_SET_OWNER, NULL, 0, NULL, 0);
	if (!r)
		r = get_u64(f, VHU_GET_FEATURES, &f->features);
	if (!r && (f->features & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		uint64_t p;
		r = get_u64(f, VHU_GET_PROTOCOL_FEATURES, &p);
		if (!r) {
			uint64_t want = p & WANT_PROTOCOL;
			r = send_simple(f, VHU_SET_PROTOCOL_FEATURES, &want, 8, NULL, 0);
			f->protocol = want;
		}
	}
	if (r)
		goto err;
	return 0;
err:
	close(f->sock);
	f->sock = -1;
	return r;
}

void vhu_frontend__close(struct vhu_frontend *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
}

int vhu_frontend__set_features(struct vhu_frontend *f, uint64_t features)
{
	/* PROTOCOL_FEATURES stays on once negotiated (vhost-user.rst). */
	features |= f->features & (1ull << VHU_F_PROTOCOL_FEATURES);
	return send_simple(f, VHU_SET_FEATURES, &features, 8, NULL, 0);
}

int vhu_frontend__set_mem_table(struct vhu_frontend *f, const struct guest_mem *gm)
{
	struct vhu_mem_table t = { 0 };
	int fds[VHU_MAX_FDS];
	if (!gm->nr_regions || gm->nr_regions > VHU_MAX_REGIONS)
		return -EINVAL;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (r->fd < 0)
			return -EINVAL; /* virtiofsd must map it: fd-backed RAM only */
		t.regions[i] = (struct vhu_mem_region){ r->gpa, r->size, (uint64_t)(uintptr_t)r->host,
							r->fd_offset };
		fds[i] = r->fd;
	}
	t.nregions = gm->nr_regions;
	return send_simple(f, VHU_SET_MEM_TABLE, &t, 8 + t.nregions * sizeof(t.regions[0]), fds,
			   t.nregions);
}

static int ring_fd(struct vhu_frontend *f, uint32_t req, unsigned int idx, int fd)
{
	uint64_t v = idx | (fd < 0 ? VHU_VRING_NOFD : 0);
	return send_simple(f, req, &v, 8, &fd, fd < 0 ? 0 : 1);
}

int vhu_frontend__start_ring(struct vhu_frontend *f, const struct guest_mem *gm, unsigned int idx,
			     uint16_t num, uint64_t desc, uint64_t avail, uint64_t used, int kick,
			     int call)
{
	void *d = gm__ptr(gm, desc, 16ull * num), *a = gm__ptr(gm, avail, 6 + 2ull * num),
	     *u = gm__ptr(gm, used, 6 + 8ull * num);
	if (!d || !a || !u)
		return -EFAULT;
	struct vhu_vring_state st = { idx, num };
	struct vhu_vring_state base = { idx, 0 };
	struct vhu_vring_addr ad = { idx, 0, (uint64_t)(uintptr_t)d, (uint64_t)(uintptr_t)u,
				     (uint64_t)(uintptr_t)a, 0 };
	int r = send_simple(f, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	if (!r)
		r = send_simple(f, VHU_SET_VRING_BASE, &base, sizeof(base), NULL, 0);
	if (!r)
		r = send_simple(f, VHU_SET_VRING_ADDR, &ad, sizeof(ad), NULL, 0);
	if (!r)
		r = ring_fd(f, VHU_SET_VRING_CALL, idx, call);
	if (!r)
		r = ring_fd(f, VHU_SET_VRING_KICK, idx, kick);
	if (!r && (f->features & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		struct vhu_vring_state en = { idx, 1 };
		r = send_simple(f, VHU_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0);
	}
	return r;
}

int vhu_frontend__stop_ring(struct vhu_frontend *f, unsigned int idx, uint16_t *base)
{
	struct vhu_msg m;
	vhu_msg__init(&m, VHU_GET_VRING_BASE, 0, sizeof(struct vhu_vring_state));
	m.p.state = (struct vhu_vring_state){ idx, 0 };
	int r = vhu_conn__send(f->sock, &m);
	if (!r)
		r = vhu_conn__recv(f->sock, &m);
	if (r)
		return r;
	vhu_msg__close_fds(&m);
	if (m.hdr.request != VHU_GET_VRING_BASE || m.hdr.size != sizeof(m.p.state))
		return -EPROTO;
	*base = (uint16_t)m.p.state.num;
	return 0;
}
