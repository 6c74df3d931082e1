/* The i8042 keyboard controller, only as far as a guest uses it to reset the
 * machine: command 0xfe on port 0x64 pulses the reset line. Reads report an
 * empty controller so probing drivers give up quietly. */
#include "vm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe

/* Both ports share one handler; the command port is registered with a base
 * offset of 4 so the handler can tell them apart. */
static bool opaque_is_cmd(uint64_t offset)
{
	return offset == 4;
}

static void i8042__io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;

	if (!is_write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = 0;
		return;
	}
	if (opaque_is_cmd(offset) && data[0] == I8042_CMD_RESET) {
		vm__set_error(vm, "guest reset through the i8042 controller");
		vm__terminate(vm, JOEY_EVENT_RESET, 0, 0, 0);
	}
}

static void i8042__cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write)
{
	i8042__io(opaque, offset + 4, data, len, is_write);
}

int i8042__init(struct vm *vm)
{
	int rc = vm__register_pio(vm, I8042_DATA, 1, i8042__io, vm);

	/* 0x61 (between them) belongs to the in-kernel PIT speaker port. */
	return rc ? rc : vm__register_pio(vm, I8042_CMD, 1, i8042__cmd_io, vm);
}
