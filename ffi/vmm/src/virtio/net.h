/* virtio-net on a tap for the built-in VMM (joey_vm_add_device(vm, "net",
 * "tap=tap0,mac=52:54:00:12:34:56") or "fd=<tap fd>"; a passed fd stays
 * the caller's). */
#ifndef JOEY_VIRTIO_NET_H
#define JOEY_VIRTIO_NET_H

#include "../device_host.h"

extern const struct device_ops net_device_ops;

#endif
