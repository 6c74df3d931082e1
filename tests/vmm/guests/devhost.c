/* Drives the device-host contract from the guest side: a port-I/O and an
 * MMIO handler the host test registers, echoing value + 1, and the command
 * line text a device appended. Exit code 7 when both echoes were right. */
#include "guest.h"

#define TEST_PORT 0x510
#define TEST_MMIO 0xd0000000ULL

int guest_main(void)
{
	uint32_t pio, mmio;

	uart_puts("cmdline: ");
	uart_puts(guest_cmdline());
	uart_putc('\n');
	outl(TEST_PORT + 4, 0x1234);
	pio = inl(TEST_PORT + 4);
	mmio_write32(TEST_MMIO + 8, 0xabcd);
	mmio = mmio_read32(TEST_MMIO + 8);
	uart_puts("pio ");
	uart_put_hex(pio);
	uart_puts(" mmio ");
	uart_put_hex(mmio);
	uart_putc('\n');
	return pio == 0x1235 && mmio == 0xabce ? 7 : 1;
}
