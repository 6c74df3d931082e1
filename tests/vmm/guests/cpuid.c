/* Reports what the VMM set up for the vCPU: CPUID (hypervisor bit, logical
 * CPU count, APIC id, KVM signature, leaf 0xb topology) and the boot MSRs
 * Linux expects. Exit code: bits 0-7 logical count from leaf 1, bit 8
 * hypervisor bit, bit 9 "KVMKVMKVM" signature, bits 16-23 leaf 0xb core
 * count, bit 24 MTRRdefType = 0x806 (MTRRs on,
 * default write-back), bit 25 MISC_ENABLE fast strings. */
#include "guest.h"

/* Ring 0: CPUID must trap to KVM (at CPL 3 a PVM host answers it from the host CPU) and rdmsr needs ring 0. */
GUEST_NEEDS_CPL0;

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

int guest_main(void)
{
	uint32_t r[4], code = 0;
	char sig[13];

	cpuid(1, 0, r);
	code |= (r[1] >> 16) & 0xff;
	code |= (r[2] >> 31) << 8;
	uart_puts("apic id ");
	uart_put_dec(r[1] >> 24);
	cpuid(0x40000000, 0, r);
	memcpy(sig, &r[1], 4);
	memcpy(sig + 4, &r[2], 4);
	memcpy(sig + 8, &r[3], 4);
	sig[12] = '\0';
	uart_puts(", hypervisor '");
	uart_puts(sig);
	uart_puts("'\n");
	if (!memcmp(sig, "KVMKVMKVM", 9))
		code |= 1u << 9;
	cpuid(0, 0, r);
	if (r[0] >= 0xb) {
		cpuid(0xb, 1, r);
		code |= (r[1] & 0xff) << 16;
	}
	uart_puts("MTRRdefType ");
	uart_put_hex(rdmsr(0x2ff));
	uart_putc('\n');
	if (rdmsr(0x2ff) == 0x806)
		code |= 1u << 24;
	if (rdmsr(0x1a0) & 1)
		code |= 1u << 25;
	return (int)code;
}
