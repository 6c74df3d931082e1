/* The boot structures the loader leaves in guest memory, read back through
 * the public API: zero page (setup header, command line pointer, e820 map)
 * and the MP table (CPUs, IOAPIC, 24 interrupt routes, checksums). */
#include <string.h>

#include "harness.h"

#define MIB (1ULL << 20)

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static int test_zero_page_and_e820(void)
{
	char err[JOEY_ERR_MAX];
	uint8_t zp[4096], cmd[64];
	joey_vm *vm;
	uint64_t mem = 3ULL << 30 | 512 * MIB; /* 3.5 GiB: RAM above 4 GiB too */

	CHECK(vmt_create(&vm, guest_path("loop"), 1, mem, "a=b c", err, sizeof(err)) == 0, "%s",
	      err);
	CHECK(joey_vm_start(vm) == 0, "start");
	CHECK(joey_vm_pause(vm) == 0, "pause");
	int r1 = joey_vm_read_mem(vm, 0x7000, zp, sizeof(zp));
	int r2 = joey_vm_read_mem(vm, 0x20000, cmd, sizeof(cmd));
	int r3 = joey_vm_read_mem(vm, 0x100000000ULL + 512 * MIB - 8, cmd + 32, 8);
	int r4 = joey_vm_read_mem(vm, 0x100000000ULL + 512 * MIB, cmd + 32, 1);
	joey_vm_destroy(vm);
	CHECK(r1 == 0 && r2 == 0 && r3 == 0, "reads %d %d %d", r1, r2, r3);
	CHECK(r4 == -14, "read past the end of RAM gave %d, want -EFAULT", r4);
	uint32_t magic, cmdptr;
	memcpy(&magic, zp + 0x202, 4);
	memcpy(&cmdptr, zp + 0x228, 4);
	CHECK(magic == 0x53726448 && zp[0x1fe] == 0x55 && zp[0x1ff] == 0xaa, "setup header");
	CHECK(zp[0x210] == 0xff, "type_of_loader %#x", zp[0x210]);
	CHECK(cmdptr == 0x20000 && !strcmp((char *)cmd, "a=b c"), "cmdline %#x '%s'", cmdptr, cmd);
	CHECK(zp[0x1e8] == 4, "e820 entries %u", zp[0x1e8]);
	struct {
		uint64_t addr, size;
		uint32_t type;
	} want[4] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, 0xc0000000ULL - 0x100000, 1 },
		{ 0x100000000ULL, 512 * MIB, 1 },
	};
	for (int i = 0; i < 4; i++) {
		uint64_t a, s;
		uint32_t t;
		memcpy(&a, zp + 0x2d0 + i * 20, 8);
		memcpy(&s, zp + 0x2d0 + i * 20 + 8, 8);
		memcpy(&t, zp + 0x2d0 + i * 20 + 16, 4);
		CHECK(a == want[i].addr && s == want[i].size && t == want[i].type,
		      "e820[%d] = %#llx+%#llx type %u", i, (unsigned long long)a,
		      (unsigned long long)s, t);
	}
	return PASS;
}

static int test_mp_table(void)
{
	char err[JOEY_ERR_MAX];
	uint8_t t[1024];
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("loop"), 3, 16 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	CHECK(joey_vm_start(vm) == 0, "start");
	int rc = joey_vm_read_mem(vm, 0x9fc00, t, sizeof(t));
	joey_vm_destroy(vm);
	CHECK(rc == 0, "read");
	CHECK(!memcmp(t, "_MP_", 4) && t[8] == 1 && t[9] == 4 && sum(t, 16) == 0,
	      "floating pointer");
	uint32_t physptr;
	memcpy(&physptr, t + 4, 4);
	CHECK(physptr == 0x9fc10, "config table at %#x", physptr);
	const uint8_t *h = t + 16;
	uint16_t len, count;
	memcpy(&len, h + 4, 2);
	memcpy(&count, h + 34, 2);
	CHECK(!memcmp(h, "PCMP", 4) && h[6] == 4 && sum(h, len) == 0, "header or checksum");
	int cpus = 0, boot = 0, ioapics = 0, routes = 0, lints = 0;
	const uint8_t *e = h + 44;
	for (int i = 0; i < count; i++) {
		switch (e[0]) {
		case 0:
			CHECK(e[1] == cpus && (e[3] & 1), "cpu entry %d: apic id %u flags %u", cpus, e[1],
			      e[3]);
			boot += (e[3] & 2) ? 1 : 0;
			cpus++;
			e += 20;
			break;
		case 2:
			CHECK(e[1] == 3 && e[4] == 0x00 && e[7] == 0xfe, "ioapic id %u", e[1]);
			ioapics++;
			e += 8;
			break;
		case 3:
			CHECK(e[5] == e[7] && e[6] == 3, "route irq %u → pin %u of %u", e[5], e[7], e[6]);
			routes++;
			e += 8;
			break;
		case 4:
			lints++;
			e += 8;
			break;
		default:
			e += 8;
		}
	}
	CHECK(e == h + len, "entries end at %td, table is %u bytes", e - h, len);
	CHECK(cpus == 3 && boot == 1 && ioapics == 1 && routes == 24 && lints == 2,
	      "cpus %d boot %d ioapics %d routes %d lints %d", cpus, boot, ioapics, routes, lints);
	return PASS;
}

static int test_cpuid_and_msrs(void)
{
	char err[JOEY_ERR_MAX], out[256];
	struct joey_event ev;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("cpuid"), 3, 16 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	joey_vm_destroy(vm);
	CHECK(ended && ev.type == JOEY_EVENT_SHUTDOWN, "no exit; output '%s'", out);
	uint32_t c = (uint32_t)ev.code;
	printf("    %s", out);
	CHECK((c & 0xff) == 3, "leaf 1 logical count %u, want 3", c & 0xff);
	CHECK(c & (1u << 8), "hypervisor bit clear");
	CHECK(c & (1u << 9), "no KVM signature at leaf 0x40000000");
	CHECK(((c >> 16) & 0xff) == 3, "leaf 0xb core count %u, want 3", (c >> 16) & 0xff);
	CHECK(c & (1u << 24), "MTRRdefType not write-back with MTRRs on");
	CHECK(c & (1u << 25), "MISC_ENABLE fast strings off");
	CHECK(strstr(out, "apic id 0,"), "boot vCPU's APIC id: '%s'", out);
	return PASS;
}

int main(void)
{
	harness_run("zero page: setup header, command line, e820 map around the MMIO hole",
		    test_zero_page_and_e820);
	harness_run("MP table: CPUs, IOAPIC, 24 routes, checksums", test_mp_table);
	harness_run("CPUID (hypervisor bit, topology, KVM leaves) and boot MSRs in the guest",
		    test_cpuid_and_msrs);
	return harness_finish();
}
