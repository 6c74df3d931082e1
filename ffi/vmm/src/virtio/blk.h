/* virtio-blk for the built-in VMM (joey_vm_add_device(vm, "blk",
 * "path=/var/lib/x.img,ro=1,id=disk0")). */
#ifndef JOEY_VIRTIO_BLK_H
#define JOEY_VIRTIO_BLK_H

#include "../device_host.h"

extern const struct device_ops blk_device_ops;

#endif
