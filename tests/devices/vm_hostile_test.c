/* Hostile guests against the vsock device: each attack of
 * tests/devices/guests/hostile.c must end with the device in NEEDS_RESET,
 * a JOEY_EVENT_DEVICE_ERROR whose text names the fault, the hostile guest
 * exiting 0 (it saw NEEDS_RESET and the device recovered after a reset) —
 * while a second VM in the same process moves vsock data the whole time
 * and finishes its transfer intact. */
#include "dev_test.h"
#include "harness.h"

#define HOST_PROG BUILD_DIR "/devices/vsock_host"

struct attack {
	int n;
	const char *name, *expect;
};

static const struct attack attacks[] = {
	{ 1, "buffer outside guest RAM", "outside guest memory" },
	{ 2, "descriptor loop", "loops" },
	{ 3, "absurd length", "outside guest memory" },
	{ 4, "avail index jump", "avail index moved" },
	{ 5, "nested indirect table", "indirect" },
	{ 6, "rings outside RAM", "ring outside guest memory" },
	{ 7, "head out of range", "head out of range" },
	{ 8, "readable after writable", "readable descriptor after a writable" },
	{ 9, "overlapping buffers", "overlaps another buffer" },
};

struct vm_run {
	joey_vm *vm;
	uint64_t id;
	bool ended, device_error;
	struct joey_event end;
	char out[16384];
};

static void drain(struct vm_run *r)
{
	size_t used = strlen(r->out);
	int n;
	while (used + 1 < sizeof(r->out) &&
	       (n = joey_vm_console_read(r->vm, (uint8_t *)r->out + used,
					 (uint32_t)(sizeof(r->out) - used - 1))) > 0)
		used += (size_t)n;
	r->out[used] = 0;
}

/* Pumps events for every run until `until` ended (or ms passed). */
static void pump(struct vm_run **runs, int nr, int ms, struct vm_run *until)
{
	struct joey_event e;
	double end = dt_now_ms() + ms;
	while (dt_now_ms() < end) {
		while (joey_event_next(&e)) {
			for (int i = 0; i < nr; i++) {
				struct vm_run *r = runs[i];
				if (!r || e.vm_id != r->id)
					continue;
				if (e.type == JOEY_EVENT_CONSOLE)
					drain(r);
				if (e.type == JOEY_EVENT_DEVICE_ERROR)
					r->device_error = true;
				if (e.type == JOEY_EVENT_SHUTDOWN || e.type == JOEY_EVENT_RESET ||
				    e.type == JOEY_EVENT_FAULT) {
					drain(r);
					r->ended = true;
					r->end = e;
				}
			}
		}
		if (until->ended)
			return;
		joey_event_wait(20);
	}
}

static int start_vm(struct vm_run *r, const char *guest, const char *cmdline, const char *spec)
{
	char err[512];
	memset(r, 0, sizeof(*r));
	if (vmt_create(&r->vm, guest, 1, 64 << 20, cmdline, err, sizeof(err))) {
		printf("    create: %s\n", err);
		return -1;
	}
	r->id = joey_vm_id(r->vm);
	if (joey_vm_add_device(r->vm, "vsock", spec) || joey_vm_start(r->vm)) {
		joey_vm_last_error(r->vm, err, sizeof(err));
		printf("    start: %s\n", err);
		return -1;
	}
	return 0;
}

static int hostile_guests_with_a_bystander(void)
{
	char dir[64], uds[128], spec[200], log[128];
	struct vm_run bystander, hostile;
	struct vm_run *runs[2] = { &bystander, NULL };
	int rc = PASS;
	if (!dt_tmpdir(dir, sizeof(dir)))
		return FAIL;
	snprintf(uds, sizeof(uds), "%s/good.sock", dir);
	snprintf(spec, sizeof(spec), "cid=3,uds=%s", uds);
	snprintf(log, sizeof(log), "%s/host.log", dir);
	char *argv[] = { HOST_PROG, uds, "131072", "200", NULL };
	pid_t host = dt_spawn(argv, log);
	usleep(50000);
	if (start_vm(&bystander, DEV_GUEST_DIR "/vsock_xfer.elf", "bytes=131072", spec)) {
		dt_reap(host, 0);
		rc = FAIL;
		goto out;
	}
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const struct attack *a = &attacks[i];
		char cmd[32], hspec[200], err[512];
		snprintf(cmd, sizeof(cmd), "attack=%d", a->n);
		snprintf(hspec, sizeof(hspec), "cid=4,uds=%s/bad%d.sock", dir, a->n);
		if (start_vm(&hostile, DEV_GUEST_DIR "/hostile.elf", cmd, hspec)) {
			rc = FAIL;
			if (hostile.vm)
				joey_vm_destroy(hostile.vm);
			continue;
		}
		runs[1] = &hostile;
		pump(runs, 2, 30000, &hostile);
		runs[1] = NULL;
		joey_vm_last_error(hostile.vm, err, sizeof(err));
		bool ok = hostile.ended && hostile.end.type == JOEY_EVENT_SHUTDOWN &&
			  hostile.end.code == 0 && hostile.device_error && strstr(err, a->expect);
		printf("    %s %d %s: device error %s; last error \"%s\"\n", ok ? "ok  " : "FAIL",
		       a->n, a->name, hostile.device_error ? "reported" : "MISSING", err);
		if (!ok) {
			printf("%s", hostile.out);
			rc = FAIL;
		}
		joey_vm_destroy(hostile.vm);
		if (bystander.ended)
			printf("    (the bystander had already finished)\n");
	}
	pump(runs, 1, 120000, &bystander);
	int host_rc = dt_reap(host, 5000);
	dt_cat(log, "    bystander host: ");
	bool good = bystander.ended && bystander.end.type == JOEY_EVENT_SHUTDOWN &&
		    bystander.end.code == 0 && strstr(bystander.out, "ALL OK") && host_rc == 0 &&
		    !bystander.device_error;
	printf("    bystander VM: %s\n", good ? "transfer completed intact, no device error"
					       : "FAILED");
	if (!good) {
		printf("%s", bystander.out);
		rc = FAIL;
	}
out:
	if (bystander.vm)
		joey_vm_destroy(bystander.vm);
	dt_rmtree(dir);
	return rc;
}

int main(void)
{
	DT_REQUIRE_KVM();
	harness_run("hostile guests: NEEDS_RESET + device error, bystander VM unharmed",
		    hostile_guests_with_a_bystander);
	return harness_finish();
}
