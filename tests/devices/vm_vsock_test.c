/* The built-in VMM's virtio-vsock device driven by a project-written test
 * guest (tests/devices/guests/vsock_xfer.c): feature negotiation, queue
 * setup, chained and indirect descriptors, 16 MiB each way on a
 * guest-initiated stream (to <uds>_5000) and on a host-initiated one
 * (CONNECT 6000 on the hybrid socket) at the same time, with every byte
 * checked on both sides and the credit rules checked by the guest. */
#include <sys/stat.h>

#include "dev_test.h"
#include "harness.h"

#define HOST_PROG BUILD_DIR "/devices/vsock_host"

/* Nanoseconds per guest loop iteration (a volatile increment): about 1 when
 * test-guest code runs natively (on PVM: at CPL 3, see
 * tests/vmm/guests/lib/runtime.c), thousands when this host's KVM emulates
 * it instruction by instruction. */
static double guest_ns_per_iteration(void)
{
	enum { N = 1000000 };
	joey_vm *vm;
	char err[256], out[256], cmdline[32];
	struct joey_event ev;
	snprintf(cmdline, sizeof(cmdline), "n=%d", N);
	if (vmt_create(&vm, DEV_GUEST_DIR "/spin.elf", 1, 16 << 20, cmdline, err, sizeof(err)))
		return -1;
	double t0 = dt_now_ms();
	double ns = -1;
	if (!joey_vm_start(vm) && vmt_wait_end(vm, 60000, &ev, out, sizeof(out)))
		ns = (dt_now_ms() - t0) * 1e6 / N;
	joey_vm_destroy(vm);
	return ns;
}

static int vsock_both_directions(void)
{
	char dir[64], uds[128], spec[200], log[128], out[16384];
	const char *bytes = getenv("VSOCK_BYTES");
	if (!bytes)
		bytes = "16777216";
	/* The guest checks every byte: 16 MiB each way takes well under a
	 * second natively, minutes if guest code were emulated. Say which. */
	double ns = guest_ns_per_iteration();
	printf("    guest loop iteration: %.2f ns (VM start included)%s\n", ns,
	       ns < 0 || ns >= 50 ? ": test-guest code is NOT native here; this transfer will be "
				    "slow (VSOCK_BYTES overrides the 16 MiB)" : "");
	char cmdline[64];
	joey_vm *vm = NULL;
	char err[512];
	int rc = FAIL;
	if (!dt_tmpdir(dir, sizeof(dir)))
		return FAIL;
	snprintf(uds, sizeof(uds), "%s/vsock.sock", dir);
	snprintf(spec, sizeof(spec), "cid=3,uds=%s", uds);
	snprintf(log, sizeof(log), "%s/host.log", dir);
	snprintf(cmdline, sizeof(cmdline), "bytes=%s", bytes);
	if (vmt_create(&vm, DEV_GUEST_DIR "/vsock_xfer.elf", 1, 64 << 20, cmdline, err,
		       sizeof(err))) {
		printf("    create: %s\n", err);
		goto out;
	}
	if (joey_vm_add_device(vm, "vsock", spec)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    add_device: %s\n", err);
		goto out;
	}
	struct stat sb;
	if (stat(uds, &sb) || !S_ISSOCK(sb.st_mode)) {
		printf("    hybrid socket %s not created at add_device\n", uds);
		goto out;
	}
	char *argv[] = { HOST_PROG, uds, (char *)bytes, "100", NULL };
	pid_t host = dt_spawn(argv, log);
	usleep(50000); /* <uds>_5000 must listen before the guest connects */
	double t0 = dt_now_ms();
	if (joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    start: %s\n", err);
		dt_reap(host, 0);
		goto out;
	}
	struct joey_event ev = { 0 };
	bool ended = vmt_wait_end(vm, 110000, &ev, out, sizeof(out));
	double ms = dt_now_ms() - t0;
	int host_rc = dt_reap(host, 5000);
	printf("%s", out);
	dt_cat(log, "    host: ");
	printf("    %s bytes each way, both streams, in %.0f ms\n", bytes, ms);
	if (!dt_guest_ok(ended, &ev, out))
		goto out;
	if (host_rc != 0) {
		printf("    host side rc %d\n", host_rc);
		goto out;
	}
	rc = PASS;
out:
	if (vm)
		joey_vm_destroy(vm);
	/* The device removed its socket on destroy. */
	if (rc == PASS && access(uds, F_OK) == 0) {
		printf("    %s left behind after destroy\n", uds);
		rc = FAIL;
	}
	dt_rmtree(dir);
	return rc;
}

int main(void)
{
	DT_REQUIRE_KVM();
	harness_run("vsock: guest- and host-initiated streams at once, every byte and credit checked",
		    vsock_both_directions);
	return harness_finish();
}
