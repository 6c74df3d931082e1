/* Says it is ready, then halts with interrupts off: an idle VM whose vCPU
 * sleeps inside KVM_RUN (RSS and density measurements). */
#include "guest.h"

int guest_main(void)
{
	uart_puts("ready\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
