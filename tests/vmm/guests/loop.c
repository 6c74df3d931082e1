/* Counts forever: GUEST_MAILBOX holds a 64-bit progress counter the host
 * reads to see whether the guest runs (pause/resume test). */
#include "guest.h"

int guest_main(void)
{
	volatile uint64_t *counter = (volatile uint64_t *)GUEST_MAILBOX;

	uart_puts("loop started\n");
	for (;;)
		(*counter)++;
}
