/* Says it is ready, then halts with interrupts off: an idle VM whose vCPU
 * sleeps inside KVM_RUN (RSS and density measurements). */
#include "guest.h"

/* Ring 0: hlt needs ring 0 (an idle vCPU must sleep in KVM_RUN, not spin). */
GUEST_NEEDS_CPL0;

int guest_main(void)
{
	uart_puts("ready\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
