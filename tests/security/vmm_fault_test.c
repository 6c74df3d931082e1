/* Fault injection in the VMM: hostile test guests (tests/security/guests/
 * fault.c) make their vCPU fail — an instruction fetch from unbacked MMIO
 * (KVM internal/emulation error) and a triple fault — while another VM in
 * the same process runs. The failing VM must end with a FAULT or RESET
 * event and a last-error text naming the vCPU; the other VM's progress
 * counter keeps moving and it stays RUNNING; after 10 rounds the process's
 * fds are back at their starting level. Runs with the seccomp filters on. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)
#define MAILBOX 0x30000

static const char *fault_guest(void)
{
	return SEC_GUEST_DIR "/fault.elf";
}

static uint64_t counter(joey_vm *vm)
{
	uint64_t v = 0;

	if (joey_vm_read_mem(vm, MAILBOX, &v, sizeof(v)))
		return 0;
	return v;
}

/* Runs one faulting VM to its end; returns its event type or -1. */
static int run_faulty(const char *mode, char *err, size_t errlen, int32_t *code)
{
	char out[2048];
	struct joey_event ev = { 0 };
	joey_vm *vm;
	int type = -1;

	if (vmt_create(&vm, fault_guest(), 1, 8 * MIB, mode, err, errlen))
		return -1;
	if (joey_vm_start(vm) == 0 && vmt_wait_end(vm, 10000, &ev, out, sizeof(out))) {
		type = (int)ev.type;
		*code = ev.code;
		joey_vm_last_error(vm, err, (uint32_t)errlen);
		if (!strstr(out, "fault: "))
			type = -2; /* it never ran as far as the fault */
	}
	joey_vm_destroy(vm);
	return type;
}

static int test_fault_leaves_neighbour_running(void)
{
	char err[JOEY_ERR_MAX] = "", out[512];
	joey_vm *good;
	int fds0, fds1;
	uint64_t c0, c1, c2;

	/* Warm-up round: lazily created process-wide state (event pump). */
	{
		int32_t code = 0;

		(void)run_faulty("triple", err, sizeof(err), &code);
	}
	fds0 = count_fds();
	CHECK(vmt_create(&good, guest_path("loop"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s", err);
	CHECK(joey_vm_start(good) == 0, "start");
	CHECK(vmt_wait_output(good, 5000, "loop started", out, sizeof(out)), "neighbour did not start");
	for (int round = 0; round < 10; round++) {
		const char *mode = round % 2 ? "triple" : "fetch-mmio";
		int32_t code = 0;
		int type;

		c0 = counter(good);
		type = run_faulty(mode, err, sizeof(err), &code);
		if (round < 2)
			printf("    %s: event %d code %d: %s\n", mode, type, code, err);
		if (!strcmp(mode, "triple"))
			CHECK(type == JOEY_EVENT_RESET, "triple fault gave event %d", type);
		else
			CHECK(type == JOEY_EVENT_FAULT || type == JOEY_EVENT_RESET,
			      "fetch from MMIO gave event %d (%s)", type, err);
		CHECK(strstr(err, "vCPU 0"), "last error names the vCPU: '%s'", err);
		usleep(20000);
		c1 = counter(good);
		CHECK(c1 > c0, "neighbour stalled during round %d: %llu -> %llu", round,
		      (unsigned long long)c0, (unsigned long long)c1);
		CHECK(joey_vm_state(good) == JOEY_VM_RUNNING, "neighbour state %d", joey_vm_state(good));
	}
	c2 = counter(good);
	joey_vm_stop(good);
	joey_vm_destroy(good);
	fds1 = count_fds();
	printf("    neighbour counter reached %llu; fds %d -> %d\n", (unsigned long long)c2, fds0, fds1);
	CHECK(fds1 <= fds0, "fds leaked: %d -> %d", fds0, fds1);
	return PASS;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	harness_run("faulting VMs (MMIO fetch, triple fault) leave a neighbour VM running",
		    test_fault_leaves_neighbour_running);
	return harness_finish();
}
