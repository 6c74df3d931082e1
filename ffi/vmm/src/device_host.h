/* What the VMM core offers device models (virtio-mmio transport, devices,
 * platform devices). The core (vm.c, bus.c, irq.c, loop.c…) implements it;
 * devices include only this header and guest_mem.h, never KVM headers.
 * Contract between the VMM core and the device models: change both sides
 * together. */
#ifndef JOEY_DEVICE_HOST_H
#define JOEY_DEVICE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

struct vm;

/* MMIO/PIO handler, called on a vCPU thread with the offset inside the
 * registered range. For reads the handler fills data[0..len). */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			      bool is_write);

/* Ranges must not overlap; returns 0 or negative errno. */
int vm__register_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque);
int vm__register_pio(struct vm *vm, uint16_t base, uint16_t len, io_handler_fn fn, void *opaque);

/* The VM's RAM. Valid from creation until destroy. */
const struct guest_mem *vm__guest_mem(struct vm *vm);

/* Allocate an MMIO window (4 KiB aligned, from the virtio-mmio area below
 * 4 GiB) and an interrupt line (GSI 5..23) for a device. */
int vm__alloc_mmio(struct vm *vm, uint64_t len, uint64_t *base);
int vm__alloc_irq(struct vm *vm, uint32_t *gsi);

/* Interrupts: edge-trigger a GSI now, or bind an eventfd to it (KVM_IRQFD)
 * so that writes to the eventfd inject it without a VMM thread. */
int vm__irq_trigger(struct vm *vm, uint32_t gsi);
int vm__irqfd(struct vm *vm, uint32_t gsi, int eventfd);
/* Bind an eventfd to a 4-byte MMIO write of datamatch at addr (KVM_IOEVENTFD);
 * -ENOTSUP where the host lacks it, then the MMIO exit path is used. */
int vm__ioeventfd(struct vm *vm, uint64_t addr, uint32_t datamatch, int eventfd);
int vm__ioeventfd_remove(struct vm *vm, uint64_t addr, uint32_t datamatch, int eventfd);

/* The library's I/O event loop thread (epoll). Callbacks run on that thread,
 * never on a vCPU thread; they must not block. events = EPOLLIN/EPOLLOUT… */
typedef void (*loop_fn)(void *opaque, uint32_t events);
int vm__loop_add(struct vm *vm, int fd, uint32_t events, loop_fn fn, void *opaque);
int vm__loop_mod(struct vm *vm, int fd, uint32_t events);
int vm__loop_del(struct vm *vm, int fd);

/* Append " <text>" to the kernel command line (e.g. virtio_mmio.device=…);
 * only before start. */
int vm__cmdline_append(struct vm *vm, const char *text);

/* Report a device failure (e.g. a hostile descriptor chain): sets the VM's
 * last-error text and queues a JOEY_EVENT_DEVICE_ERROR event for the pump.
 * The VM keeps running; the device decides whether it needs a reset. */
void vm__device_error(struct vm *vm, const char *device, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A device model, registered per VM by joey_vm_add_device() before start.
 * spec is the text after the device type, e.g. "cid=3,uds=/run/x.sock". */
struct device_ops {
	const char *type; /* "vsock", "blk", "net", "fs", … */
	int (*init_one)(struct vm *vm, const char *spec, void **state);
	void (*exit_one)(struct vm *vm, void *state);
};

/* Device types known to the core: the table lives in devices.c. */
const struct device_ops *device__find(const char *type);

#endif
