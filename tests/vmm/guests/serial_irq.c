/* The UART's interrupt reaches the guest through the in-kernel IOAPIC and
 * LAPIC, as Linux's 8250 driver needs: pin 4 is routed to vector 0x24, the
 * transmit-empty interrupt is enabled, and each byte written raises it again.
 * The handler acknowledges it by reading IIR. Exit code 0 after three
 * interrupts with IIR reporting THRI, 1 on timeout. */
#include "guest.h"

/* Ring 0: lidt and hlt need ring 0, and so does the interrupt handler. */
GUEST_NEEDS_CPL0;

#define LAPIC 0xfee00000ULL
#define IOAPIC 0xfec00000ULL
#define VECTOR 0x24
#define COM1_IER (GUEST_COM1 + 1)
#define COM1_IIR (GUEST_COM1 + 2)

struct idt_entry {
	uint16_t off_lo, sel;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static volatile uint32_t irqs, thri_seen;

/* Saves the caller-saved registers (9 pushes keep the call 16-byte aligned
 * after the 5-word interrupt frame), calls irq_handler, returns with iretq. */
__asm__(".text\n"
	"irq_stub:\n"
	"  push %rax; push %rcx; push %rdx; push %rsi; push %rdi\n"
	"  push %r8; push %r9; push %r10; push %r11\n"
	"  call irq_handler\n"
	"  pop %r11; pop %r10; pop %r9; pop %r8\n"
	"  pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rax\n"
	"  iretq\n");
extern void irq_stub(void);

void irq_handler(void);
void irq_handler(void)
{
	if ((inb(COM1_IIR) & 0x0f) == 0x02)
		thri_seen++;
	irqs++;
	mmio_write32(LAPIC + 0xb0, 0); /* EOI */
}

static void ioapic_write(uint32_t reg, uint32_t value)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, value);
}

int guest_main(void)
{
	uint64_t stub = (uint64_t)irq_stub;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };

	idt[VECTOR] = (struct idt_entry){
		.off_lo = (uint16_t)stub, .sel = 0x10, .attr = 0x8e,
		.off_mid = (uint16_t)(stub >> 16), .off_hi = (uint32_t)(stub >> 32),
	};
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* KVM raises a GSI on the 8259s too, and the boot vCPU's LINT0 takes
	 * their ExtINT: mask them, as Linux does once it uses the IOAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC + 0xf0, 0x1ff); /* software-enable the LAPIC */
	ioapic_write(0x10 + 2 * 4 + 1, 0);  /* pin 4 → APIC id 0 */
	ioapic_write(0x10 + 2 * 4, VECTOR); /* fixed, edge, active high, unmasked */
	outb(COM1_IER, 0x02);               /* transmit-empty interrupt on */
	for (uint64_t spins = 0; irqs < 3 && spins < (1ULL << 32); spins++) {
		if (irqs >= 1)
			outb(GUEST_COM1, '.'); /* each byte raises THRI again */
		/* sti takes effect after hlt starts, so a pending interrupt
		 * wakes it instead of being taken just before it. */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
	outb(COM1_IER, 0);
	uart_puts("\nserial interrupts: ");
	uart_put_dec(irqs);
	uart_puts(", THRI acknowledged: ");
	uart_put_dec(thri_seen);
	uart_putc('\n');
	return irqs >= 3 && thri_seen >= 3 ? 0 : 1;
}
