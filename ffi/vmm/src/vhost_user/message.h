/* vhost-user wire format (QEMU docs/interop/vhost-user.rst): a 12-byte
 * header in native byte order {request, flags, size}, then size bytes of
 * payload; file descriptors ride along as SCM_RIGHTS. This module only
 * encodes and checks messages; it does not talk to sockets. */
#ifndef JOEY_VHOST_USER_MESSAGE_H
#define JOEY_VHOST_USER_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_ADD_MEM_REG = 37,
	VHU_REM_MEM_REG = 38,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
};

#define VHU_VERSION 1u
#define VHU_FLAG_VERSION_MASK 3u
#define VHU_FLAG_REPLY 0x4u
#define VHU_FLAG_NEED_REPLY 0x8u

#define VHU_F_PROTOCOL_FEATURES 30
#define VHU_PROTOCOL_F_MQ 0
#define VHU_PROTOCOL_F_REPLY_ACK 3
#define VHU_PROTOCOL_F_BACKEND_REQ 5
#define VHU_PROTOCOL_F_CONFIG 9
#define VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHU_PROTOCOL_F_STATUS 16

#define VHU_HDR_SIZE 12
#define VHU_MAX_FDS 8
#define VHU_MAX_REGIONS 8
#define VHU_MAX_CONFIG 256
#define VHU_MAX_PAYLOAD 512
#define VHU_VRING_NOFD (1ull << 8)
#define VHU_VRING_IDX_MASK 0xffull

struct vhu_hdr {
	uint32_t request, flags, size;
};

struct vhu_vring_state {
	uint32_t index, num;
};

struct vhu_vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

struct vhu_mem_region {
	uint64_t gpa, size, user_addr, mmap_offset;
};

struct vhu_mem_table {
	uint32_t nregions, padding;
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
};

struct vhu_config {
	uint32_t offset, size, flags;
	uint8_t data[VHU_MAX_CONFIG];
};

struct vhu_msg {
	struct vhu_hdr hdr;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_mem_table mem;
		struct vhu_config config;
		uint8_t raw[VHU_MAX_PAYLOAD];
	} p;
	int fds[VHU_MAX_FDS];
	unsigned int nfds;
};

/* Checks a received message: version, payload size for its request, the
 * fds it must or must not carry, counts and ranges inside the payload.
 * 0 or -EINVAL / -EPROTO. Unknown requests pass (the role answers them). */
int vhu_msg__check(const struct vhu_msg *m);

/* Fills a header for a message this side sends. */
void vhu_msg__init(struct vhu_msg *m, uint32_t request, uint32_t flags, uint32_t size);

const char *vhu_msg__name(uint32_t request);

#endif
