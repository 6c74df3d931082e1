/* A hostile test guest for the VMM fault test: chosen by its command line,
 * it makes KVM give up on it instead of exiting cleanly.
 *   "fetch-mmio": jumps into the MMIO hole, where no RAM backs the
 *                 instruction fetch (KVM reports an internal/emulation error);
 *   "triple":     loads an empty IDT and raises an exception (triple fault).
 * It prints "fault: <mode>" first so the host knows it got that far. */
#include "guest.h"

#define UNBACKED_MMIO 0xd0400000ULL

static int starts_with(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

int guest_main(void)
{
	const char *cmd = guest_cmdline();

	if (starts_with(cmd, "fetch-mmio")) {
		void (*fn)(void) = (void (*)(void))UNBACKED_MMIO;

		uart_puts("fault: fetch-mmio\n");
		fn();
	} else if (starts_with(cmd, "triple")) {
		struct __attribute__((packed)) {
			uint16_t limit;
			uint64_t base;
		} idt = { 0, 0 };

		uart_puts("fault: triple\n");
		__asm__ volatile("lidt %0; ud2" : : "m"(idt));
	}
	uart_puts("fault: no mode\n");
	return 3;
}
