/* The device models the built-in VMM knows, by the type name given to
 * joey_vm_add_device(). Each model lives in its own file under virtio/. */
#include <string.h>

#include "device_host.h"
#include "virtio/blk.h"
#include "virtio/fs.h"
#include "virtio/net.h"
#include "virtio/vsock.h"

static const struct device_ops *const device_table[] = {
	&vsock_device_ops,
	&blk_device_ops,
	&net_device_ops,
	&fs_device_ops,
};

const struct device_ops *device__find(const char *type)
{
	for (size_t i = 0; i < sizeof(device_table) / sizeof(device_table[0]); i++)
		if (!strcmp(device_table[i]->type, type))
			return device_table[i];
	return NULL;
}
