/* Prints a greeting and its command line on the UART, then leaves through
 * the debug-exit port with code 42. */
#include "guest.h"

int guest_main(void)
{
	uart_puts("hello from the test guest\n");
	uart_puts("cmdline: ");
	uart_puts(guest_cmdline());
	uart_putc('\n');
	return 42;
}
