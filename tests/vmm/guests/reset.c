/* Resets the machine: through the i8042 controller, or with a triple fault
 * (an exception with no IDT) when the command line says joey.reset=triple. */
#include "guest.h"

/* Ring 0: lidt needs ring 0 (the triple-fault path). */
GUEST_NEEDS_CPL0;

static bool has(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!memcmp(hay, needle, n))
			return true;
	return false;
}

int guest_main(void)
{
	if (has(guest_cmdline(), "joey.reset=triple")) {
		static const struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) empty_idt = { 0, 0 };

		uart_puts("triple fault\n");
		__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
	}
	uart_puts("i8042 reset\n");
	outb(0x64, 0xfe);
	return 1; /* not reached when the reset works */
}
