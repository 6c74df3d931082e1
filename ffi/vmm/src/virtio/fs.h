/* virtio-fs for the built-in VMM, served by virtiofsd over vhost-user
 * (joey_vm_add_device(vm, "fs", "socket=/run/joey/x/vfsd.sock,tag=kataShared")).
 * virtiofsd must already listen on the socket. */
#ifndef JOEY_VIRTIO_FS_H
#define JOEY_VIRTIO_FS_H

#include "../device_host.h"

extern const struct device_ops fs_device_ops;

#endif
