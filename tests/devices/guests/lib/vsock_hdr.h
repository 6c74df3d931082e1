/* What the virtio-vsock test guests share: the packet header (virtio 1.x
 * §5.10.6, little-endian like the guest), its op codes, the CIDs the tests
 * configure, and the device's three queues with their rx buffers at fixed
 * guest addresses. Header-only: each guest takes what it uses. */
#ifndef JOEY_TEST_VSOCK_HDR_H
#define JOEY_TEST_VSOCK_HDR_H

#include "virtio_drv.h"

#define VSOCK_DEVICE_ID 19
#define VSOCK_HDR_LEN 44
#define VSOCK_HOST_CID 2
#define VSOCK_GUEST_CID 3 /* the tests add the device with cid=3 */
#define VSOCK_TYPE_STREAM 1

/* Queue memory (vdrv_queue: 80 KiB each) and the rx buffer area. */
#define VSOCK_RXQ_MEM 0x1000000ull
#define VSOCK_TXQ_MEM 0x1020000ull
#define VSOCK_EVQ_MEM 0x1040000ull
#define VSOCK_RXBUF 0x1100000ull

enum {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE,
	VSOCK_OP_RST,
	VSOCK_OP_SHUTDOWN,
	VSOCK_OP_RW,
	VSOCK_OP_CREDIT_UPDATE,
	VSOCK_OP_CREDIT_REQUEST,
};

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_LEN, "the wire header is 44 bytes");

/* A guest-to-host stream packet; credit fields (buf_alloc, fwd_cnt) and
 * flags start at zero for the caller to set. */
static inline void vsock_hdr_init(struct vsock_hdr *h, uint32_t src_port, uint32_t dst_port,
				  uint16_t op, uint32_t len)
{
	h->src_cid = VSOCK_GUEST_CID;
	h->dst_cid = VSOCK_HOST_CID;
	h->src_port = src_port;
	h->dst_port = dst_port;
	h->len = len;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->flags = 0;
	h->buf_alloc = 0;
	h->fwd_cnt = 0;
}

/* Sets up rx (queue 0), tx (1) and event (2, 8 entries) queues; 0 or -1. */
static inline int vsock_queues(uint64_t base, struct vq *rx, uint16_t nrx, struct vq *tx,
			       uint16_t ntx, struct vq *ev)
{
	if (vdrv_queue(rx, base, 0, nrx, VSOCK_RXQ_MEM) ||
	    vdrv_queue(tx, base, 1, ntx, VSOCK_TXQ_MEM) || vdrv_queue(ev, base, 2, 8, VSOCK_EVQ_MEM))
		return -1;
	return 0;
}

/* Rx buffer i: size bytes at VSOCK_RXBUF + i * stride, device-writable. */
static inline void vsock_rx_add(struct vq *rx, unsigned int i, uint64_t stride, uint32_t size)
{
	struct vbuf b = { VSOCK_RXBUF + (uint64_t)i * stride, size, true };
	vq_add(rx, &b, 1, false);
}

/* Posts n rx buffers and kicks. */
static inline void vsock_rx_post(struct vq *rx, unsigned int n, uint64_t stride, uint32_t size)
{
	for (unsigned int i = 0; i < n; i++)
		vsock_rx_add(rx, i, stride, size);
	vq_kick(rx);
}

#endif
