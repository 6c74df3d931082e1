/* Intel MultiProcessor Specification 1.4 tables, the only firmware table
 * this VMM gives a guest (no ACPI): they tell Linux how many CPUs there are
 * (their LAPIC ids), where the IOAPIC is, and how ISA IRQs and the virtio
 * GSIs 16..23 reach it. Placed at the start of the EBDA (0x9fc00), which
 * the e820 map reserves and Linux scans. */
#include <errno.h>
#include <string.h>

#include "vm.h"

#define MPTABLE_START 0x9fc00
#define MPTABLE_MAX 0x400
#define LAPIC_BASE 0xfee00000u
#define IOAPIC_BASE 0xfec00000u
#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define NR_GSIS 24

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

struct mp_writer {
	uint8_t buf[MPTABLE_MAX];
	size_t len;
	uint16_t entries;
};

static uint8_t *mp_put(struct mp_writer *w, size_t n)
{
	uint8_t *p = w->buf + w->len;

	w->len += n;
	return p;
}

static void le16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)(0 - sum);
}

static void mp_intsrc(struct mp_writer *w, uint8_t type, uint8_t irq, uint8_t apic, uint8_t pin,
		      bool local)
{
	uint8_t *e = mp_put(w, 8);

	e[0] = local ? MP_LINTSRC : MP_INTSRC;
	e[1] = type;
	le16(e + 2, 0); /* polarity and trigger: conforming to the bus */
	e[4] = 0;       /* source bus */
	e[5] = irq;
	e[6] = apic;
	e[7] = pin;
	w->entries++;
}

int mptable__write(struct vm *vm)
{
	static struct mp_writer zero;
	struct mp_writer w = zero;
	uint8_t ioapic_id = (uint8_t)vm->nr_vcpus;
	uint8_t *fp, *hdr;

	fp = mp_put(&w, 16);
	hdr = mp_put(&w, 44);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		uint8_t *e = mp_put(&w, 20);

		e[0] = MP_PROCESSOR;
		e[1] = (uint8_t)i; /* LAPIC id = vCPU index (CPUID agrees) */
		e[2] = APIC_VERSION;
		e[3] = 1 | (i == 0 ? 2 : 0); /* enabled, boot processor */
		le32(e + 4, 0x600);          /* family 6 */
		le32(e + 8, 0x201);          /* FPU, APIC */
		w.entries++;
	}
	{
		uint8_t *e = mp_put(&w, 8);

		e[0] = MP_BUS;
		e[1] = 0;
		memcpy(e + 2, "ISA   ", 6);
		w.entries++;
	}
	{
		uint8_t *e = mp_put(&w, 8);

		e[0] = MP_IOAPIC;
		e[1] = ioapic_id;
		e[2] = IOAPIC_VERSION;
		e[3] = 1; /* enabled */
		le32(e + 4, IOAPIC_BASE);
		w.entries++;
	}
	/* GSI n is IOAPIC pin n, as KVM's default routing wires KVM_IRQ_LINE;
	 * the 8259 (ExtINT) reaches the boot CPU's LINT0, NMI every LINT1. */
	for (uint8_t irq = 0; irq < NR_GSIS; irq++)
		mp_intsrc(&w, MP_INT, irq, ioapic_id, irq, false);
	mp_intsrc(&w, MP_EXTINT, 0, 0, 0, true);
	mp_intsrc(&w, MP_NMI, 0, 0xff, 1, true);

	/* Configuration table header. */
	memcpy(hdr, "PCMP", 4);
	le16(hdr + 4, (uint16_t)(w.len - 16));
	hdr[6] = 4; /* spec 1.4 */
	memcpy(hdr + 8, "JOEY    ", 8);
	memcpy(hdr + 16, "joey-vmm    ", 12);
	le16(hdr + 34, w.entries);
	le32(hdr + 36, LAPIC_BASE);
	hdr[7] = checksum(hdr, w.len - 16);

	/* Floating pointer. */
	memcpy(fp, "_MP_", 4);
	le32(fp + 4, MPTABLE_START + 16);
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4;
	fp[10] = checksum(fp, 16);

	if (gm__write(&vm->gm, MPTABLE_START, w.buf, w.len)) {
		vm__set_error(vm, "the MP table does not fit in guest memory");
		return -ENOMEM;
	}
	return 0;
}
