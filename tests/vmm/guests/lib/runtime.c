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
	/* The VMM stops the vCPU; hlt is privileged at CPL 3. */
	for (;;) {
		if (guest_user_mode)
			cpu_relax();
		else
			__asm__ volatile("cli; hlt");
	}
}

/* Why CPL 3. This host's /dev/kvm is PVM (pagetable-based KVM, no VMX/SVM;
 * kvm_pvm module). PVM runs guest code on the real CPU only at hardware
 * CPL 3: guest user mode directly on shadow page tables; guest supervisor
 * mode, per the public PVM specification, only in "PVM mode", which a
 * PVM-aware kernel enters (PVM MSRs and event entry, kernel relocated into
 * PVM's allowed address ranges). Other supervisor code is "non-PVM mode",
 * which this host emulates instruction by instruction (perf: one
 * kvm:kvm_emulate_insn per guest instruction, no kvm:kvm_exit). Measured with tests/devices/guests/spin.c (a
 * volatile increment, ~6 instructions): 4.5 us per iteration at CPL 0,
 * 0.3-0.6 ns at CPL 3; PVM-conformant CR0/CR4/EFER/STAR values did not
 * help at CPL 0. So the runtime drops to ring 3 before guest_main, with
 * every I/O port allowed (port I/O and MMIO still exit to the VMM; MMIO
 * needs the U bit of the identity map). PVM keeps the guest's effective
 * IOPL at 0, so the TSS I/O bitmap is what grants the ports. With VMX/SVM
 * both rings run natively; nothing is lost. */
bool guest_user_mode;

/* Overridden by GUEST_NEEDS_CPL0 in guests that use privileged instructions. */
__attribute__((weak)) const int guest_needs_cpl0 = 0;

#define SEL_USER_DATA 0x2b
#define SEL_USER_CODE 0x33
#define SEL_TSS 0x40
#define RFLAGS_IOPL3 0x3002 /* IOPL 3, IF clear, reserved bit 1 */
#define PTE_P 1ULL
#define PTE_U 4ULL
#define PTE_ADDR 0x000ffffffffff000ULL

extern uint64_t guest_gdt[];

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iopb;
	/* All 65536 ports allowed, then the terminating all-ones byte. */
	uint8_t io_bitmap[8192 + 1];
} __attribute__((packed));

static struct tss64 tss;
/* Stack for interrupts and exceptions taken at CPL 3 (TSS.RSP0). */
static uint8_t kernel_stack[16384] __attribute__((aligned(16)));

/* True when the first 2 MiB of the identity map are user-accessible at
 * every level (joey's loader and start.S's PVH path build them so). */
static bool identity_map_is_user(void)
{
	uint64_t cr3, e;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	e = *(volatile uint64_t *)(cr3 & PTE_ADDR);
	if ((e & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
		return false;
	e = *(volatile uint64_t *)(e & PTE_ADDR);
	if ((e & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
		return false;
	if (e & 0x80) /* 1 GiB page */
		return true;
	e = *(volatile uint64_t *)(e & PTE_ADDR);
	return (e & (PTE_P | PTE_U)) == (PTE_P | PTE_U);
}

__attribute__((noreturn)) static void guest_user_entry(void)
{
	guest_exit((uint32_t)guest_main());
}

/* Called by start.S at CPL 0. */
int guest_start(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1, sp;

	/* Read through volatile: the compiler may fold a weak constant. */
	if (*(const volatile int *)&guest_needs_cpl0 || !identity_map_is_user())
		return guest_main();
	tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
	/* Both IOPL 3 and an all-clear I/O bitmap: PVM keeps the guest's
	 * effective IOPL at 0 and checks the TSS bitmap instead. */
	tss.iopb = offsetof(struct tss64, io_bitmap);
	tss.io_bitmap[8192] = 0xff;
	guest_gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
				 (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	guest_gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
	guest_user_mode = true;
	/* Continue on this stack, below this frame, aligned as after a call. */
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	sp = ((sp - 256) & ~15ULL) - 8;
	__asm__ volatile("mov %k0, %%ds\n\t"
			 "mov %k0, %%es\n\t"
			 "pushq %q0\n\t"
			 "pushq %1\n\t"
			 "pushq %2\n\t"
			 "pushq %3\n\t"
			 "pushq %4\n\t"
			 "iretq"
			 :
			 : "r"((uint64_t)SEL_USER_DATA), "r"(sp), "i"(RFLAGS_IOPL3),
			   "i"(SEL_USER_CODE), "r"((uint64_t)guest_user_entry)
			 : "memory");
	__builtin_unreachable();
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
