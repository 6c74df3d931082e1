/* The vsock device model (virtio 1.x §5.10) with the hybrid unix-socket host
 * side used by Firecracker and Kata: host programs connect to the uds and
 * send "CONNECT <port>\n"; guest connections to CID 2 port P reach the unix
 * socket "<uds>_<P>". It is transport-neutral: the built-in virtio-mmio
 * device and the vhost-user back end both drive it, giving it their queues,
 * guest memory, event loop and interrupt hook. Single-threaded: every entry
 * point runs on the owner's event loop thread. */
#ifndef JOEY_VSOCK_MODEL_H
#define JOEY_VSOCK_MODEL_H

#include <stdint.h>

#include "../guest_mem.h"
#include "virtqueue.h"

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE 44
#define VSOCK_MAX_PKT (64u << 10)
/* Open streams per device (host- and guest-initiated, handshakes included):
 * one host socket each, all watched by the VM's event loop (loop.c sizes
 * itself from this). */
#define VSOCK_MAX_CONNS 512

enum { VSOCK_TYPE_STREAM = 1, VSOCK_TYPE_SEQPACKET = 2 };
enum {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* Wire (little-endian, packed) <-> struct. */
void vsock_hdr__decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h);
void vsock_hdr__encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

typedef void (*vsock_loop_fn)(void *opaque, uint32_t events);

/* What the transport gives the model. gm is read on every call, so a
 * vhost-user back end may replace the memory table between calls. */
struct vsock_env {
	const struct guest_mem *gm;
	struct virtq *rxq, *txq;
	void *opaque;
	/* Interrupt the driver for queue 0 (rx) or 1 (tx). */
	void (*notify)(void *opaque, unsigned int queue);
	/* The guest broke a queue or the protocol: the transport decides
	 * (NEEDS_RESET, log). Text is already formatted. */
	void (*error)(void *opaque, const char *text);
	int (*loop_add)(void *opaque, int fd, uint32_t events, vsock_loop_fn fn, void *cb);
	int (*loop_mod)(void *opaque, int fd, uint32_t events);
	int (*loop_del)(void *opaque, int fd);
	/* Optional (NULL: not told): a host-side failure cost one connection,
	 * which was reset (e.g. the event loop had no slot for its socket);
	 * the device keeps running. Text is already formatted, for the log. */
	void (*note)(void *opaque, const char *text);
};

struct vsock_stats {
	uint64_t conns_opened, conns_closed, bytes_to_guest, bytes_to_host, rst_sent;
	uint64_t credit_violations, bad_packets;
	/* Connections reset because the event loop would not watch them. */
	uint64_t loop_refused;
};

struct vsock_model;

/* Creates the model and its hybrid listener at uds (an existing socket file
 * is replaced). Returns 0 or negative errno. */
int vsock_model__new(const struct vsock_env *env, uint64_t guest_cid, const char *uds,
		     struct vsock_model **out);
/* Closes every connection and the listener, removes the uds file. */
void vsock_model__free(struct vsock_model *m);
/* The driver kicked the tx queue / added rx buffers. */
void vsock_model__kick_tx(struct vsock_model *m);
void vsock_model__kick_rx(struct vsock_model *m);
/* Drops every connection (device reset); the listener stays. */
void vsock_model__reset(struct vsock_model *m);
uint64_t vsock_model__cid(const struct vsock_model *m);
void vsock_model__stats(const struct vsock_model *m, struct vsock_stats *s);

/* Checks one packet from the guest's tx queue without acting on it: the
 * header decoded from the chain and the payload length it may carry.
 * 0 or -EINVAL (for the fuzzer and the tx path alike). */
int vsock_pkt__parse(const struct vq_chain *c, const struct guest_mem *gm, struct vsock_hdr *h);

#endif
