/* A minimal virtio-mmio driver for test guests: device discovery from the
 * command line, feature negotiation, split queues with chained and indirect
 * descriptors, polling for used buffers (test guests run with interrupts
 * off). Also raw access for the hostile-guest tests. */
#ifndef JOEY_TEST_VIRTIO_DRV_H
#define JOEY_TEST_VIRTIO_DRV_H

#include "guest.h"

#define VDRV_STATUS_ACK 1
#define VDRV_STATUS_DRIVER 2
#define VDRV_STATUS_DRIVER_OK 4
#define VDRV_STATUS_FEATURES_OK 8
#define VDRV_STATUS_NEEDS_RESET 0x40

#define VDRV_F_INDIRECT 28
#define VDRV_F_EVENT_IDX 29
#define VDRV_F_VERSION_1 32

#define VDESC_F_NEXT 1
#define VDESC_F_WRITE 2
#define VDESC_F_INDIRECT 4

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq {
	uint64_t base; /* device MMIO base */
	unsigned int index;
	uint16_t num;
	volatile struct vdesc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[num], used_event */
	volatile uint32_t *used;  /* flags|idx as u32, then {id,len} pairs */
	uint16_t avail_idx, last_used, free_head, nr_free;
	uint16_t next_free[256];
	/* Indirect tables: one 16-entry table per head descriptor. */
	struct vdesc *indirect;
};

struct vbuf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* Finds the nth (0-based) virtio-mmio device with this ID from the
 * virtio_mmio.device= entries of the command line; 0 if absent. */
uint64_t vdrv_find(uint32_t device_id, unsigned int nth);
uint32_t vdrv_read(uint64_t base, uint32_t off);
void vdrv_write(uint64_t base, uint32_t off, uint32_t v);
uint64_t vdrv_features(uint64_t base);
/* reset, ACK, DRIVER, features (want & offered), FEATURES_OK: returns the
 * negotiated set, or ~0 if the device refused FEATURES_OK. */
uint64_t vdrv_negotiate(uint64_t base, uint64_t want);
/* Sets queue q up at mem (needs 80 KiB, 4 KiB aligned) with num entries. */
int vdrv_queue(struct vq *vq, uint64_t base, unsigned int q, uint16_t num, uint64_t mem);
void vdrv_driver_ok(uint64_t base);
/* Adds a chain of n buffers (readable first); indirect uses a table.
 * Returns the head or -1 when the ring is full. Does not kick. */
int vq_add(struct vq *vq, const struct vbuf *b, unsigned int n, bool indirect);
void vq_kick(struct vq *vq);
/* Takes one used element: 1 with head and len set, 0 if none. */
int vq_used(struct vq *vq, uint16_t *head, uint32_t *len);
void vq_free(struct vq *vq, uint16_t head);
/* Frees every chain the device has used (a queue the device only reads,
 * such as tx). */
void vq_reclaim(struct vq *vq);
/* Spins (bounded) until the device sets NEEDS_RESET; true if it did. */
bool vdrv_wait_needs_reset(uint64_t base, uint64_t spins);

/* Prints "<who>: FAIL <why> <v>" and leaves the VM with status 1. */
__attribute__((noreturn)) void vdrv_fail(const char *who, const char *why, uint64_t v);

/* Decimal option "key=N" from the command line, or def. */
uint64_t guest_opt(const char *key, uint64_t def);

/* xorshift stream as in tests/devices/linux/pattern.h. */
struct pattern {
	uint64_t s;
};
void pattern_init(struct pattern *p, uint64_t seed);
uint8_t pattern_next(struct pattern *p);

#endif
