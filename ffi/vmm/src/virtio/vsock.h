/* virtio-vsock for the built-in VMM (joey_vm_add_device(vm, "vsock",
 * "cid=3,uds=/run/joey/<id>/vsock.sock")). */
#ifndef JOEY_VIRTIO_VSOCK_H
#define JOEY_VIRTIO_VSOCK_H

#include "../device_host.h"

extern const struct device_ops vsock_device_ops;

#endif
