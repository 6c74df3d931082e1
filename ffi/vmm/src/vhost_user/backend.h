/* The vhost-user back-end role: answers a front end (QEMU) on one
 * connection, maps the guest memory it shares, and runs the rings it hands
 * over. What the rings carry is the device's business (ops). */
#ifndef JOEY_VHOST_USER_BACKEND_H
#define JOEY_VHOST_USER_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "../guest_mem.h"
#include "../virtio/virtqueue.h"
#include "evloop.h"
#include "message.h"

#define VHU_BACKEND_MAX_QUEUES 8

struct vhu_backend_ops {
	uint64_t features;          /* virtio device features offered */
	unsigned int nr_queues;
	/* Config space read (GET_CONFIG); 0 or negative errno. */
	int (*get_config)(void *dev, uint32_t off, uint8_t *buf, uint32_t len);
	void (*queue_start)(void *dev, unsigned int q);
	void (*queue_stop)(void *dev, unsigned int q);
	void (*queue_kick)(void *dev, unsigned int q);
};

struct vhu_vring {
	struct virtq vq;
	int kick_fd, call_fd, err_fd;
	bool enabled, started, addr_set;
	uint64_t desc_ua, avail_ua, used_ua;
	uint16_t base;
	struct vhu_backend *be;
	unsigned int index;
};

struct vhu_backend {
	int sock;
	struct evloop *loop;
	struct guest_mem gm;
	void *map[VHU_MAX_REGIONS];
	size_t map_len[VHU_MAX_REGIONS];
	uint64_t acked_features, acked_protocol;
	bool disconnected;
	const struct vhu_backend_ops *ops;
	void *dev;
	struct vhu_vring vr[VHU_BACKEND_MAX_QUEUES];
	char err[256];
};

void vhu_backend__init(struct vhu_backend *be, struct evloop *loop,
		       const struct vhu_backend_ops *ops, void *dev);
/* Takes the connected socket and serves it from the loop. */
int vhu_backend__attach(struct vhu_backend *be, int sock);
/* Handles one received message (exposed for the fuzzer); negative errno
 * ends the connection. */
int vhu_backend__handle(struct vhu_backend *be, struct vhu_msg *m);
/* Interrupts the driver for queue q (writes its call eventfd). */
void vhu_backend__notify(struct vhu_backend *be, unsigned int q);
/* Signals a broken ring on its err eventfd, as vhost-user provides. */
void vhu_backend__ring_error(struct vhu_backend *be, unsigned int q);
/* Stops rings, unmaps memory, closes every fd. */
void vhu_backend__release(struct vhu_backend *be);

#endif
