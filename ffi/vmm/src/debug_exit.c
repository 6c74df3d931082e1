/* Debug-exit port for test guests (like QEMU's isa-debug-exit at 0xf4): a
 * write of 1, 2 or 4 bytes ends the VM with a SHUTDOWN event whose code is
 * the value written. QEMU reports (value << 1) | 1 as its exit status. */
#include <string.h>

#include "vm.h"

static void debug_exit__io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct vm *vm = opaque;
	uint32_t value = 0;

	(void)offset;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	memcpy(&value, data, len < sizeof(value) ? len : sizeof(value));
	vm__terminate(vm, JOEY_EVENT_SHUTDOWN, (int32_t)value, 0, 0);
}

int debug_exit__init(struct vm *vm)
{
	return vm__register_pio(vm, DEBUG_EXIT_PORT, 4, debug_exit__io, vm);
}
