/* Two vCPUs: the boot vCPU starts the second through its local APIC
 * (INIT, SIPI, SIPI). The second wakes in real mode at 0x10000 in the
 * trampoline below, switches to long mode on the boot vCPU's page tables and
 * counts in GUEST_MAILBOX + 8. Exit code 2 once both have run. */
#include "guest.h"

/* Ring 0: it reads CR3 and its second vCPU boots through real mode. */
GUEST_NEEDS_CPL0;

#define LAPIC 0xfee00000ULL
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define TRAMPOLINE 0x10000ULL

extern const uint8_t ap_tramp[], ap_tramp_end[], ap_cr3[], ap_stack[], ap_entry[];

/* Real mode at CS=0x1000, IP=0: load a GDT, enable PAE, EFER.LME and
 * paging, and jump to 64-bit code; addresses are trampoline offsets plus
 * 0x10000 because the code runs from its copy there. */
__asm__(".pushsection .rodata\n"
	".code16\n"
	".globl ap_tramp, ap_tramp_end, ap_cr3, ap_stack, ap_entry\n"
	"ap_tramp:\n"
	"  cli\n"
	"  movw %cs, %ax\n"
	"  movw %ax, %ds\n"
	"  lgdtl ap_gdt_ptr - ap_tramp\n"
	"  movl %cr4, %eax\n"
	"  orl $0x20, %eax\n"
	"  movl %eax, %cr4\n"
	"  movl ap_cr3 - ap_tramp, %eax\n"
	"  movl %eax, %cr3\n"
	"  movl $0xc0000080, %ecx\n"
	"  rdmsr\n"
	"  orl $0x100, %eax\n"
	"  wrmsr\n"
	"  movl %cr0, %eax\n"
	"  orl $0x80000001, %eax\n"
	"  movl %eax, %cr0\n"
	"  ljmpl $0x10, $(ap_long - ap_tramp + 0x10000)\n"
	".code64\n"
	"ap_long:\n"
	"  movl $0x18, %eax\n"
	"  movl %eax, %ds\n"
	"  movl %eax, %es\n"
	"  movl %eax, %ss\n"
	"  movq (ap_stack - ap_tramp + 0x10000), %rsp\n"
	"  movq (ap_entry - ap_tramp + 0x10000), %rax\n"
	"  call *%rax\n"
	"1: cli\n"
	"  hlt\n"
	"  jmp 1b\n"
	".p2align 3\n"
	"ap_gdt:\n"
	"  .quad 0, 0, 0x00af9b000000ffff, 0x00cf93000000ffff\n"
	"ap_gdt_ptr:\n"
	"  .word 31\n"
	"  .long ap_gdt - ap_tramp + 0x10000\n"
	".p2align 3\n"
	"ap_cr3: .quad 0\n"
	"ap_stack: .quad 0\n"
	"ap_entry: .quad 0\n"
	"ap_tramp_end:\n"
	".popsection\n");

static uint8_t ap_stack_mem[16384] __attribute__((aligned(16)));

static void ap_main(void)
{
	volatile uint64_t *counter = (volatile uint64_t *)(GUEST_MAILBOX + 8);

	for (;;)
		(*counter)++;
}

static void patch(const uint8_t *field, uint64_t value)
{
	memcpy((void *)(TRAMPOLINE + (uint64_t)(field - ap_tramp)), &value, sizeof(value));
}

static void icr(uint32_t apic_id, uint32_t low)
{
	mmio_write32(LAPIC + LAPIC_ICR_HI, apic_id << 24);
	mmio_write32(LAPIC + LAPIC_ICR_LO, low);
	while (mmio_read32(LAPIC + LAPIC_ICR_LO) & (1u << 12)) /* delivery pending */
		cpu_relax();
}

int guest_main(void)
{
	volatile uint64_t *counter = (volatile uint64_t *)(GUEST_MAILBOX + 8);
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	memcpy((void *)TRAMPOLINE, ap_tramp, (size_t)(ap_tramp_end - ap_tramp));
	patch(ap_cr3, cr3);
	patch(ap_stack, (uint64_t)(ap_stack_mem + sizeof(ap_stack_mem)));
	patch(ap_entry, (uint64_t)ap_main);
	*counter = 0;
	mb();

	uart_puts("boot vCPU apic id ");
	uart_put_dec(mmio_read32(LAPIC + LAPIC_ID) >> 24);
	uart_putc('\n');
	mmio_write32(LAPIC + LAPIC_SVR, 0x1ff); /* software-enable the LAPIC */
	icr(1, 0x4500);                          /* INIT, level assert */
	icr(1, 0x4600 | (uint32_t)(TRAMPOLINE >> 12)); /* SIPI */
	icr(1, 0x4600 | (uint32_t)(TRAMPOLINE >> 12));

	for (uint64_t spins = 0; spins < (1ULL << 34); spins++) {
		if (*counter > 1000) {
			uart_puts("second vCPU is running\n");
			return 2;
		}
		cpu_relax();
	}
	uart_puts("second vCPU never ran\n");
	return 1;
}
