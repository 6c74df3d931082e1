/* virtio-mmio transport, version 2 (virtio 1.x §4.2.2): the only code that
 * decodes virtio registers. A device model hands it a virtio_dev_ops table
 * and sees features, queues and config bytes; the transport owns the MMIO
 * window, the interrupt line (irqfd where KVM offers it), the queue
 * notifications (ioeventfd, else the MMIO exit) and the status machine.
 *
 * Threads: registers are written on vCPU threads, queues are serviced on
 * the VM's I/O loop thread. Both hold t->lock, so device callbacks never
 * race with a reset. */
#ifndef JOEY_VIRTIO_MMIO_H
#define JOEY_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../device_host.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_MAX_QUEUES 8
#define VIRTIO_MMIO_SIZE 0x1000

#define VIRTIO_STATUS_ACK 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_FS 26

struct virtio_mmio;

struct virtio_dev_ops {
	uint32_t device_id;
	unsigned int nr_queues;
	uint16_t queue_max;
	uint64_t features; /* besides VERSION_1, EVENT_IDX, INDIRECT_DESC */
	/* Config space; the transport checks off/len against config_size. */
	uint32_t config_size;
	void (*read_config)(void *dev, uint32_t off, uint8_t *buf, uint32_t len);
	/* DRIVER_OK with every queue validated; nonzero refuses (NEEDS_RESET). */
	int (*activate)(void *dev);
	/* The driver reset the device (status 0) or the transport is torn down. */
	void (*reset)(void *dev);
	/* The driver kicked queue q (loop thread, lock held). */
	void (*notify)(void *dev, unsigned int q);
};

struct virtio_mmio_kick {
	struct virtio_mmio *t;
	unsigned int q;
	int fd;         /* eventfd the driver's QueueNotify reaches */
	bool ioeventfd; /* KVM signals it directly (no MMIO exit) */
};

struct virtio_mmio {
	struct vm *vm;
	const char *name;
	const struct virtio_dev_ops *ops;
	void *dev;
	uint64_t base;
	uint32_t gsi;
	int irq_fd; /* eventfd bound with irqfd, or -1: vm__irq_trigger */
	pthread_mutex_t lock;
	uint32_t status, dev_feat_sel, drv_feat_sel, queue_sel, config_gen;
	uint32_t int_status; /* atomic: vCPU acks, loop thread raises */
	uint64_t driver_features;
	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_kick kick[VIRTIO_MMIO_MAX_QUEUES];
};

/* Allocates the window and GSI, wires notifications and interrupts, and
 * appends virtio_mmio.device=4K@<base>:<gsi> to the command line. */
int virtio_mmio__init(struct virtio_mmio *t, struct vm *vm, const char *name,
		      const struct virtio_dev_ops *ops, void *dev);
void virtio_mmio__exit(struct virtio_mmio *t);
const struct guest_mem *virtio_mmio__gm(struct virtio_mmio *t);
/* Raises the used-buffer interrupt (any thread, no lock needed). */
void virtio_mmio__signal(struct virtio_mmio *t);
/* Pushes then interrupts if the driver asked for it (EVENT_IDX aware). */
void virtio_mmio__notify_queue(struct virtio_mmio *t, unsigned int q);
/* Queues another notify(q) on the loop thread, as a guest kick would: for a
 * device that stopped short of the end of the ring. Callable under the lock. */
void virtio_mmio__rekick(struct virtio_mmio *t, unsigned int q);
/* The guest broke the device: NEEDS_RESET, config interrupt, logged device
 * error. Called with the lock held (from device callbacks). */
void virtio_mmio__fail(struct virtio_mmio *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The lock, for device code running from its own loop callbacks. */
void virtio_mmio__lock(struct virtio_mmio *t);
void virtio_mmio__unlock(struct virtio_mmio *t);
bool virtio_mmio__running(struct virtio_mmio *t);

/* Parses "k=v,k=v" specs: finds key, copies its value (NUL-terminated).
 * 0, -ENOENT if absent, -ENAMETOOLONG if it does not fit. */
int virtio_spec__get(const char *spec, const char *key, char *out, size_t len);

#endif
