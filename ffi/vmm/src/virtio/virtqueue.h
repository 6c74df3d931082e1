/* Split virtqueues (virtio 1.x §2.7) as seen by a device: the queue keeps
 * only guest addresses and indices; guest memory is passed in on every call
 * because it belongs to the VM (built-in) or to the vhost-user connection.
 * Everything read from the rings is untrusted: a chain is parsed and checked
 * completely (addresses, lengths, loops, ordering, indirect tables) before a
 * device acts on it. */
#ifndef JOEY_VIRTQUEUE_H
#define JOEY_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../guest_mem.h"

#define VQ_MAX_SIZE 1024     /* largest queue size a device offers */
#define VQ_MAX_SEGS 256      /* descriptors in one chain (direct + indirect) */
#define VQ_MAX_CHAIN_LEN (64u << 20) /* bytes in one chain, either direction */

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

#define VIRTIO_F_NOTIFY_ON_EMPTY 24
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Why a queue stopped: each is a hostile or broken driver. */
enum vq_error {
	VQ_OK = 0,
	VQ_ERR_AVAIL_JUMP,   /* avail idx moved by more than the queue size */
	VQ_ERR_HEAD,         /* head index >= queue size */
	VQ_ERR_DESC_ADDR,    /* buffer outside guest RAM */
	VQ_ERR_NEXT,         /* next index >= table size */
	VQ_ERR_LOOP,         /* chain longer than its table: a loop */
	VQ_ERR_ORDER,        /* readable descriptor after a writable one */
	VQ_ERR_INDIRECT,     /* malformed or nested indirect table */
	VQ_ERR_TOO_LONG,     /* more segments or bytes than a chain may hold */
	VQ_ERR_RING_ADDR,    /* ring outside guest RAM or misaligned */
	VQ_ERR_OVERLAP,      /* a writable buffer overlaps another buffer of the chain */
};

struct virtq {
	uint16_t num;         /* queue size, power of two, <= VQ_MAX_SIZE */
	bool ready;
	bool event_idx;       /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;        /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	uint64_t desc, avail, used; /* guest-physical ring addresses */
	uint16_t last_avail;  /* next avail entry the device will take */
	uint16_t used_idx;    /* device's copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_valid;
	enum vq_error error;  /* sticky: set once, the queue is then dead */
};

struct vq_seg {
	uint64_t gpa;
	uint32_t len;
};

/* A parsed chain: out (device-readable) segments first, then in
 * (device-writable) ones, as virtio requires. */
struct vq_chain {
	uint16_t head;
	uint16_t nr_out, nr_in;
	uint32_t out_len, in_len;
	struct vq_seg seg[VQ_MAX_SEGS];
};

/* Checks the ring addresses for the size and alignment virtio requires;
 * 0 or -EFAULT/-EINVAL (error set). */
int virtq__validate(struct virtq *vq, const struct guest_mem *gm);

/* Takes the next available chain: 1 = *c filled, 0 = ring empty,
 * -EINVAL = the guest broke the ring (vq->error says how; the queue is dead). */
int virtq__pop(struct virtq *vq, const struct guest_mem *gm, struct vq_chain *c);
/* Gives back the chain just popped, untouched (nothing was published). */
void virtq__unpop(struct virtq *vq);
/* True if the driver has published chains the device has not taken. */
bool virtq__has_avail(struct virtq *vq, const struct guest_mem *gm);
/* Returns a chain to the driver with len bytes written into it. */
int virtq__push(struct virtq *vq, const struct guest_mem *gm, uint16_t head, uint32_t len);
/* After pushes: does the driver want an interrupt (EVENT_IDX or flags)? */
bool virtq__should_notify(struct virtq *vq, const struct guest_mem *gm);
/* Forgets all state (device reset). */
void virtq__reset(struct virtq *vq);

const char *virtq__error_text(enum vq_error e);

/* Copies between a chain's out (read) or in (write) bytes and a buffer,
 * starting off bytes into that direction. Returns bytes copied (short at the
 * end of the chain) or -EFAULT. */
long vq_chain__read(const struct vq_chain *c, const struct guest_mem *gm, uint32_t off,
		    void *dst, uint32_t len);
long vq_chain__write(const struct vq_chain *c, const struct guest_mem *gm, uint32_t off,
		     const void *src, uint32_t len);
/* Host iovecs for len bytes of the chain's in or out part from off; returns
 * the iovec count (<= max) or -EFAULT. */
int vq_chain__iov(const struct vq_chain *c, const struct guest_mem *gm, bool in, uint32_t off,
		  uint32_t len, struct iovec *iov, int max);

#endif
