/* The vhost-user front-end role, used by the virtio-fs device to hand its
 * rings to virtiofsd: share guest memory (the memfd) and set up each ring
 * with its kick and call eventfds. Calls block on the socket; virtiofsd
 * answers at once. */
#ifndef JOEY_VHOST_USER_FRONTEND_H
#define JOEY_VHOST_USER_FRONTEND_H

#include <stdint.h>

#include "../guest_mem.h"
#include "message.h"

struct vhu_frontend {
	int sock;
	uint64_t features;  /* offered by the back end */
	uint64_t protocol;  /* negotiated protocol features */
};

/* Connects and does SET_OWNER, GET_FEATURES and the protocol features. */
int vhu_frontend__connect(struct vhu_frontend *f, const char *path);
void vhu_frontend__close(struct vhu_frontend *f);
int vhu_frontend__set_features(struct vhu_frontend *f, uint64_t features);
/* Shares every region of gm (each must have an fd). */
int vhu_frontend__set_mem_table(struct vhu_frontend *f, const struct guest_mem *gm);
/* Starts ring idx: addresses are guest-physical, translated here to this
 * process's mapping (which is what the table's user_addr describes). */
int vhu_frontend__start_ring(struct vhu_frontend *f, const struct guest_mem *gm, unsigned int idx,
			     uint16_t num, uint64_t desc, uint64_t avail, uint64_t used, int kick,
			     int call);
/* Stops ring idx; returns its next avail index in *base. */
int vhu_frontend__stop_ring(struct vhu_frontend *f, unsigned int idx, uint16_t *base);

#endif
