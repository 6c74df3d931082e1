/* VM lifecycle through the public API with test guests: UART output and
 * debug-exit code arrive as events; pause/resume; state transitions. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

static int test_hello_output_and_exit_code(void)
{
	char err[JOEY_ERR_MAX], out[4096];
	struct joey_event ev;
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("hello"), 1, 16 * MIB, "joey.test=1 console=ttyS0", err,
			    sizeof(err));

	CHECK(rc == 0, "create: %d %s", rc, err);
	CHECK(joey_vm_state(vm) == JOEY_VM_CREATED, "state %d", joey_vm_state(vm));
	rc = joey_vm_start(vm);
	CHECK(rc == 0, "start: %d", rc);
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	char why[JOEY_ERR_MAX];
	joey_vm_last_error(vm, why, sizeof(why));
	int state = joey_vm_state(vm);
	joey_vm_destroy(vm);
	CHECK(ended, "no terminal event within 5 s; output so far: '%s'", out);
	CHECK(ev.type == JOEY_EVENT_SHUTDOWN, "event type %u code %d (%s)", ev.type, ev.code, why);
	CHECK(ev.code == 42, "exit code %d", ev.code);
	CHECK(strstr(out, "hello from the test guest\n"), "output '%s'", out);
	CHECK(strstr(out, "cmdline: joey.test=1 console=ttyS0\n"), "output '%s'", out);
	CHECK(state == JOEY_VM_STOPPED, "state after exit %d", state);
	return PASS;
}

static uint64_t read_counter(joey_vm *vm, uint64_t off)
{
	uint64_t v = 0;

	if (joey_vm_read_mem(vm, 0x30000 + off, &v, sizeof(v)))
		return UINT64_MAX;
	return v;
}

static int test_pause_resume_progress(void)
{
	char err[JOEY_ERR_MAX], out[256];
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("loop"), 1, 16 * MIB, "", err, sizeof(err));

	CHECK(rc == 0, "create: %s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool up = vmt_wait_output(vm, 5000, "loop started\n", out, sizeof(out));
	uint64_t c0 = read_counter(vm, 0);
	usleep(50000);
	uint64_t c1 = read_counter(vm, 0);
	int prc = joey_vm_pause(vm);
	int st_paused = joey_vm_state(vm);
	uint64_t p0 = read_counter(vm, 0);
	usleep(200000);
	uint64_t p1 = read_counter(vm, 0);
	int rrc = joey_vm_resume(vm);
	int st_resumed = joey_vm_state(vm);
	usleep(100000);
	uint64_t r1 = read_counter(vm, 0);
	int src = joey_vm_stop(vm);
	int st_stopped = joey_vm_state(vm);
	joey_vm_destroy(vm);
	printf("    counter: running %llu→%llu, paused %llu→%llu, resumed →%llu\n",
	       (unsigned long long)c0, (unsigned long long)c1, (unsigned long long)p0,
	       (unsigned long long)p1, (unsigned long long)r1);
	CHECK(up, "guest did not start: '%s'", out);
	CHECK(c1 > c0, "counter does not move while running");
	CHECK(prc == 0 && st_paused == JOEY_VM_PAUSED, "pause rc %d state %d", prc, st_paused);
	CHECK(p1 == p0, "counter moved while paused: %llu → %llu", (unsigned long long)p0,
	      (unsigned long long)p1);
	CHECK(p0 >= c1, "counter went backwards");
	CHECK(rrc == 0 && st_resumed == JOEY_VM_RUNNING, "resume rc %d state %d", rrc, st_resumed);
	CHECK(r1 > p1, "counter did not move after resume");
	CHECK(src == 0 && st_stopped == JOEY_VM_STOPPED, "stop rc %d state %d", src, st_stopped);
	return PASS;
}

static int test_stop_event_and_illegal_transitions(void)
{
	char err[JOEY_ERR_MAX], out[256];
	struct joey_event ev;
	bool stopped = false;
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("loop"), 1, 16 * MIB, "", err, sizeof(err));

	CHECK(rc == 0, "create: %s", err);
	rc = joey_vm_pause(vm);
	joey_vm_last_error(vm, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "cannot pause: it is not running"), "pause before start: %d '%s'",
	      rc, err);
	CHECK(joey_vm_start(vm) == 0, "start");
	CHECK(vmt_wait_output(vm, 5000, "loop started", out, sizeof(out)), "no output");
	rc = joey_vm_start(vm);
	joey_vm_last_error(vm, err, sizeof(err));
	CHECK(rc == -EBUSY && strstr(err, "already started"), "second start: %d '%s'", rc, err);
	CHECK(joey_vm_stop(vm) == 0, "stop");
	uint64_t id = joey_vm_id(vm);
	for (int i = 0; i < 100 && !stopped; i++) {
		while (joey_event_next(&ev))
			if (ev.vm_id == id && ev.type == JOEY_EVENT_STOPPED)
				stopped = true;
		if (!stopped)
			joey_event_wait(10);
	}
	rc = joey_vm_resume(vm);
	joey_vm_destroy(vm);
	CHECK(stopped, "no STOPPED event");
	CHECK(rc == -EINVAL, "resume after stop: %d", rc);
	return PASS;
}

static int run_reset(const char *cmdline, int want_code, const char *want_out)
{
	char err[JOEY_ERR_MAX], out[512];
	struct joey_event ev;
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("reset"), 1, 16 * MIB, cmdline, err, sizeof(err));

	CHECK(rc == 0, "create: %s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	joey_vm_last_error(vm, err, sizeof(err));
	joey_vm_destroy(vm);
	CHECK(ended, "no end event; output '%s'", out);
	CHECK(ev.type == JOEY_EVENT_RESET, "event %u code %d (%s)", ev.type, ev.code, err);
	CHECK(ev.code == want_code, "reset code %d, want %d", ev.code, want_code);
	CHECK(strstr(out, want_out), "output '%s'", out);
	printf("    %s\n", err);
	return PASS;
}

static int test_i8042_reset(void)
{
	return run_reset("", 0, "i8042 reset\n");
}

static int test_triple_fault_reset(void)
{
	return run_reset("joey.reset=triple", 1, "triple fault\n");
}

static int test_two_vcpus(void)
{
	char err[JOEY_ERR_MAX], out[512];
	struct joey_event ev;
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("smp"), 2, 16 * MIB, "", err, sizeof(err));

	CHECK(rc == 0, "create: %s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ended = vmt_wait_end(vm, 20000, &ev, out, sizeof(out));
	joey_vm_last_error(vm, err, sizeof(err));
	joey_vm_destroy(vm);
	CHECK(ended, "no end within 20 s; output '%s'", out);
	if (ev.type == JOEY_EVENT_FAULT)
		return harness_skip("this host's KVM could not run the second vCPU's real-mode "
				    "start-up code");
	CHECK(ev.type == JOEY_EVENT_SHUTDOWN && ev.code == 2,
	      "event %u code %d (%s); output '%s'", ev.type, ev.code, err, out);
	CHECK(strstr(out, "second vCPU is running"), "output '%s'", out);
	return PASS;
}

static int test_many_vms_one_pump(void)
{
	enum { N = 16 };
	char err[JOEY_ERR_MAX];
	joey_vm *vms[N] = { 0 };
	int shutdowns = 0, started = 0, bad = 0;

	for (int i = 0; i < N; i++) {
		int rc = vmt_create(&vms[i], guest_path("hello"), 1, 8 * MIB, "", err, sizeof(err));
		CHECK(rc == 0, "create %d: %s", i, err);
	}
	for (int i = 0; i < N; i++)
		CHECK(joey_vm_start(vms[i]) == 0, "start %d", i);
	double deadline = now_ms() + 10000;
	while (shutdowns < N && now_ms() < deadline) {
		struct joey_event ev;

		while (joey_event_next(&ev)) {
			int idx = -1;
			for (int i = 0; i < N; i++)
				if (vms[i] && joey_vm_id(vms[i]) == ev.vm_id)
					idx = i;
			if (idx < 0)
				continue;
			if (ev.type == JOEY_EVENT_STARTED)
				started++;
			if (ev.type == JOEY_EVENT_SHUTDOWN) {
				shutdowns++;
				if (ev.code != 42)
					bad++;
			}
			if (ev.type == JOEY_EVENT_CONSOLE) {
				uint8_t buf[256];
				while (joey_vm_console_read(vms[idx], buf, sizeof(buf)) > 0) {
				}
			}
		}
		joey_event_wait(20);
	}
	for (int i = 0; i < N; i++)
		joey_vm_destroy(vms[i]);
	CHECK(started == N, "STARTED events %d of %d", started, N);
	CHECK(shutdowns == N, "SHUTDOWN events %d of %d", shutdowns, N);
	CHECK(bad == 0, "%d wrong exit codes", bad);
	return PASS;
}

static int test_destroy_running_and_unstarted(void)
{
	char err[JOEY_ERR_MAX], out[256];
	joey_vm *a, *b;

	CHECK(vmt_create(&a, guest_path("loop"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s", err);
	CHECK(vmt_create(&b, guest_path("loop"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s", err);
	CHECK(joey_vm_start(a) == 0, "start");
	CHECK(vmt_wait_output(a, 5000, "loop started", out, sizeof(out)), "no output");
	CHECK(joey_vm_pause(a) == 0, "pause");
	joey_vm_destroy(a); /* paused */
	joey_vm_destroy(b); /* never started */
	return PASS;
}

static int test_console_input(void)
{
	char err[JOEY_ERR_MAX], out[256];
	struct joey_event ev;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("echo"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ready = vmt_wait_output(vm, 5000, "ready\n", out, sizeof(out));
	int n = joey_vm_console_write(vm, (const uint8_t *)"hello joey\n", 11);
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	joey_vm_destroy(vm);
	CHECK(ready, "guest not ready: '%s'", out);
	CHECK(n == 11, "console_write took %d", n);
	CHECK(ended && ev.type == JOEY_EVENT_SHUTDOWN && ev.code == 11, "end %d code %d", ended,
	      ev.code);
	CHECK(strstr(out, "HELLO JOEY\n"), "echo '%s'", out);
	return PASS;
}

static int test_pause_with_waiting_secondary(void)
{
	char err[JOEY_ERR_MAX], out[256];
	joey_vm *vm;

	/* The loop guest never starts vCPU 1: it waits for SIPI inside KVM_RUN,
	 * and pause must still get it out. */
	CHECK(vmt_create(&vm, guest_path("loop"), 2, 8 * MIB, "", err, sizeof(err)) == 0, "%s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	CHECK(vmt_wait_output(vm, 5000, "loop started", out, sizeof(out)), "no output");
	int bad = 0;
	for (int i = 0; i < 100; i++) {
		if (joey_vm_pause(vm) || joey_vm_state(vm) != JOEY_VM_PAUSED)
			bad++;
		if (joey_vm_resume(vm) || joey_vm_state(vm) != JOEY_VM_RUNNING)
			bad++;
	}
	joey_vm_destroy(vm);
	CHECK(bad == 0, "%d failed transitions", bad);
	return PASS;
}

static int test_serial_interrupt(void)
{
	char err[JOEY_ERR_MAX], out[512];
	struct joey_event ev;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("serial_irq"), 1, 16 * MIB, "", err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ended = vmt_wait_end(vm, 10000, &ev, out, sizeof(out));
	joey_vm_last_error(vm, err, sizeof(err));
	joey_vm_destroy(vm);
	CHECK(ended, "no exit within 10 s; output '%s'", out);
	CHECK(ev.type == JOEY_EVENT_SHUTDOWN && ev.code == 0, "event %u code %d (%s); output '%s'",
	      ev.type, ev.code, err, out);
	CHECK(strstr(out, "serial interrupts: 3, THRI acknowledged: 3"), "output '%s'", out);
	return PASS;
}

static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int test_hugepages(void)
{
	struct joey_vm_config cfg = { .vcpus = 1, .mem_bytes = 16 * MIB, .kernel = guest_path("hello"),
				      .console_fd = -1, .flags = JOEY_VM_F_HUGEPAGES };
	char err[JOEY_ERR_MAX], out[256];
	struct joey_event ev;
	joey_vm *vm;

	cfg.mem_bytes = 8 * MIB + 4096;
	int rc = joey_vm_create(&cfg, &vm, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "in multiples of 2048 KiB"), "%d '%s'", rc, err);
	if (hugepages_free() < 8)
		return harness_skip("fewer than 8 free 2 MiB hugepages (vm.nr_hugepages)");
	cfg.mem_bytes = 16 * MIB;
	CHECK(joey_vm_create(&cfg, &vm, err, sizeof(err)) == 0, "%s", err);
	CHECK(joey_vm_start(vm) == 0, "start");
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	joey_vm_destroy(vm);
	CHECK(ended && ev.code == 42, "hugepage-backed guest did not exit with 42");
	return PASS;
}

int main(void)
{
	harness_run("hello guest: UART output and debug-exit code via events",
		    test_hello_output_and_exit_code);
	harness_run("loop guest: progress counter stops while paused, moves after resume",
		    test_pause_resume_progress);
	harness_run("stop: STOPPED event, state, illegal transitions named",
		    test_stop_event_and_illegal_transitions);
	harness_run("i8042 reset → RESET event", test_i8042_reset);
	harness_run("triple fault → RESET event", test_triple_fault_reset);
	harness_run("two vCPUs: the guest starts the second with INIT/SIPI", test_two_vcpus);
	harness_run("16 VMs at once through one event pump", test_many_vms_one_pump);
	harness_run("destroy a paused VM and a never-started VM", test_destroy_running_and_unstarted);
	harness_run("console input reaches the guest's UART receiver", test_console_input);
	harness_run("100 pause/resume rounds with a vCPU waiting for SIPI",
		    test_pause_with_waiting_secondary);
	harness_run("UART transmit-empty interrupt via IOAPIC pin 4", test_serial_interrupt);
	harness_run("hugepage-backed guest RAM (JOEY_VM_F_HUGEPAGES)", test_hugepages);
	return harness_finish();
}
