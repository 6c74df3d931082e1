/* Test-guest runtime: UART output, debug exit, boot information, and the
 * few libc routines the compiler may emit calls to. */
#include "guest.h"

#define BP_CMD_LINE_PTR 0x228
#define LSR_THRE 0x20

uint64_t guest_boot_params;
uint32_t guest_pvh_start_info;

const char *guest_cmdline(void)
{
	uint32_t ptr;

	if (guest_pvh_start_info)
		ptr = *(volatile uint32_t *)(uint64_t)(guest_pvh_start_info + 24);
	else if (guest_boot_params)
		ptr = *(volatile uint32_t *)(guest_boot_params + BP_CMD_LINE_PTR);
	else
		ptr = 0;
	return ptr ? (const char *)(uint64_t)ptr : "";
}

void uart_putc(char c)
{
	while (!(inb(GUEST_COM1 + 5) & LSR_THRE))
		cpu_relax();
	outb(GUEST_COM1, (uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

void uart_put_hex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	uart_puts("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		uart_putc(digits[(v >> shift) & 0xf]);
}

void uart_put_dec(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	uart_puts(&buf[i]);
}

void guest_exit(uint32_t code)
{
	outl(GUEST_DEBUG_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void *memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;

	while (n--)
		*d++ = (uint8_t)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}
