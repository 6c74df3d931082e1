/* Console input: says "ready", then echoes each byte the host queues on the
 * UART receiver in upper case until a newline, and exits with the number
 * of bytes read. Polls the line status register (no interrupts). */
#include "guest.h"

#define LSR_DR 0x01

int guest_main(void)
{
	uint32_t n = 0;

	uart_puts("ready\n");
	for (;;) {
		while (!(inb(GUEST_COM1 + 5) & LSR_DR))
			cpu_relax();
		char c = (char)inb(GUEST_COM1);
		n++;
		if (c == '\n')
			break;
		uart_putc(c >= 'a' && c <= 'z' ? (char)(c - 32) : c);
	}
	uart_putc('\n');
	return (int)n;
}
