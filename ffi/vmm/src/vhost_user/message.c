#include "message.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

void vhu_msg__init(struct vhu_msg *m, uint32_t request, uint32_t flags, uint32_t size)
{
	memset(&m->hdr, 0, sizeof(m->hdr));
	m->hdr.request = request;
	m->hdr.flags = VHU_VERSION | flags;
	m->hdr.size = size;
	m->nfds = 0;
}

const char *vhu_msg__name(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES: return "GET_FEATURES";
	case VHU_SET_FEATURES: return "SET_FEATURES";
	case VHU_SET_OWNER: return "SET_OWNER";
	case VHU_RESET_OWNER: return "RESET_OWNER";
	case VHU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHU_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHU_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHU_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHU_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHU_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHU_SET_VRING_ERR: return "SET_VRING_ERR";
	case VHU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHU_GET_CONFIG: return "GET_CONFIG";
	case VHU_SET_CONFIG: return "SET_CONFIG";
	case VHU_RESET_DEVICE: return "RESET_DEVICE";
	case VHU_GET_MAX_MEM_SLOTS: return "GET_MAX_MEM_SLOTS";
	case VHU_SET_STATUS: return "SET_STATUS";
	case VHU_GET_STATUS: return "GET_STATUS";
	default: return "UNKNOWN";
	}
}

/* Exact payload size, -1 for "checked by the caller", -2 for "any". */
static long payload_size(uint32_t req)
{
	switch (req) {
	case VHU_GET_FEATURES: case VHU_SET_OWNER: case VHU_RESET_OWNER:
	case VHU_GET_PROTOCOL_FEATURES: case VHU_GET_QUEUE_NUM: case VHU_RESET_DEVICE:
	case VHU_GET_MAX_MEM_SLOTS: case VHU_GET_STATUS:
		return -2; /* QEMU sends 0 bytes, some front ends 8: ignore it */
	case VHU_SET_FEATURES: case VHU_SET_PROTOCOL_FEATURES: case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL: case VHU_SET_VRING_ERR: case VHU_SET_LOG_BASE:
	case VHU_SET_STATUS:
		return 8;
	case VHU_SET_VRING_NUM: case VHU_SET_VRING_BASE: case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_ENABLE:
		return sizeof(struct vhu_vring_state);
	case VHU_SET_VRING_ADDR:
		return sizeof(struct vhu_vring_addr);
	case VHU_SET_MEM_TABLE: case VHU_GET_CONFIG: case VHU_SET_CONFIG:
		return -1;
	default:
		return -2;
	}
}

static unsigned int fds_wanted(const struct vhu_msg *m, unsigned int *min)
{
	*min = 0;
	switch (m->hdr.request) {
	case VHU_SET_MEM_TABLE:
		*min = m->p.mem.nregions;
		return m->p.mem.nregions;
	case VHU_SET_VRING_KICK: case VHU_SET_VRING_CALL: case VHU_SET_VRING_ERR:
		*min = (m->p.u64 & VHU_VRING_NOFD) ? 0 : 1;
		return *min;
	case VHU_SET_LOG_BASE: case VHU_SET_LOG_FD: case VHU_SET_BACKEND_REQ_FD:
	case VHU_ADD_MEM_REG:
		return 1;
	default:
		return 0;
	}
}

int vhu_msg__check(const struct vhu_msg *m)
{
	uint32_t size = m->hdr.size;
	if ((m->hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION)
		return -EPROTO;
	if (size > VHU_MAX_PAYLOAD || m->nfds > VHU_MAX_FDS)
		return -EINVAL;
	long want = payload_size(m->hdr.request);
	if (want >= 0 && size != (uint32_t)want)
		return -EINVAL;
	switch (m->hdr.request) {
	case VHU_SET_MEM_TABLE: {
		const struct vhu_mem_table *t = &m->p.mem;
		if (size < 8 || t->nregions == 0 || t->nregions > VHU_MAX_REGIONS ||
		    size != 8 + t->nregions * sizeof(struct vhu_mem_region))
			return -EINVAL;
		for (unsigned int i = 0; i < t->nregions; i++) {
			const struct vhu_mem_region *r = &t->regions[i];
			if (!r->size || r->gpa + r->size < r->gpa ||
			    r->user_addr + r->size < r->user_addr ||
			    r->mmap_offset + r->size < r->mmap_offset)
				return -EINVAL;
		}
		break;
	}
	case VHU_GET_CONFIG: case VHU_SET_CONFIG: {
		const struct vhu_config *c = &m->p.config;
		if (size < 12 || c->size > VHU_MAX_CONFIG || size != 12 + c->size ||
		    c->offset > VHU_MAX_CONFIG || c->offset + c->size > VHU_MAX_CONFIG)
			return -EINVAL;
		break;
	}
	default:
		break;
	}
	unsigned int min, max = fds_wanted(m, &min);
	if (m->nfds < min || m->nfds > max)
		return -EINVAL;
	return 0;
}
