/* Measurements behind bench/suites/dev.ts (a benchmark helper, not a test):
 *   bench_dev blk <file> rand <count>   4 KiB random reads: guest, then host
 *   bench_dev blk <file> seq <passes>   1 MiB sequential reads: guest, then host
 *   bench_dev vsock <bytes>             built-in VMM vsock transfer (vsock_xfer
 *                                       guest + vsock_host), both directions
 * Prints "key=value" lines. The guest side is timed between its "bench
 * start" and "bench end" console lines; the host side does the same reads
 * with pread on the same file. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "dev_test.h"
#include "harness.h"

static double marker_ms(joey_vm *vm, const char *needle, char *out, size_t len, int timeout)
{
	/* vmt_wait_output restarts out: keep the pump going until needle. */
	if (!vmt_wait_output(vm, timeout, needle, out, len))
		return -1;
	return dt_now_ms();
}

static int bench_blk(const char *file, const char *mode, const char *count)
{
	char cmd[64], spec[300], out[4096], err[512];
	joey_vm *vm;
	bool rnd = !strcmp(mode, "rand");
	uint64_t n = strtoull(count, NULL, 0);
	snprintf(cmd, sizeof(cmd), "mode=%d count=%s", rnd ? 1 : 2, count);
	if (vmt_create(&vm, DEV_GUEST_DIR "/blk_bench.elf", 1, 64 << 20, cmd, err, sizeof(err))) {
		fprintf(stderr, "create: %s\n", err);
		return 1;
	}
	snprintf(spec, sizeof(spec), "path=%s,ro=1", file);
	if (joey_vm_add_device(vm, "blk", spec) || joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		fprintf(stderr, "setup: %s\n", err);
		joey_vm_destroy(vm);
		return 1;
	}
	double t0 = marker_ms(vm, "bench start", out, sizeof(out), 60000);
	double t1 = marker_ms(vm, "bench end", out, sizeof(out), 600000);
	joey_vm_destroy(vm);
	if (t0 < 0 || t1 < 0) {
		fprintf(stderr, "guest did not finish\n");
		return 1;
	}
	int fd = open(file, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	static uint8_t buf[1 << 20];
	uint64_t sectors = (uint64_t)st.st_size / 512, rng = 88172645463325252ull, total;
	double h0 = dt_now_ms();
	if (rnd) {
		total = n;
		for (uint64_t i = 0; i < n; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			if (pread(fd, buf, 4096, (off_t)((rng % (sectors / 8)) * 4096)) != 4096)
				return 1;
		}
	} else {
		total = n * (sectors / 2048);
		for (uint64_t i = 0; i < total; i++)
			if (pread(fd, buf, 1 << 20, (off_t)((i % (sectors / 2048)) << 20)) != 1 << 20)
				return 1;
	}
	double h1 = dt_now_ms();
	close(fd);
	double gs = (t1 - t0) / 1e3, hs = (h1 - h0) / 1e3;
	if (rnd)
		printf("guest_iops=%.1f\nhost_iops=%.1f\n", total / gs, total / hs);
	else
		printf("guest_mbps=%.1f\nhost_mbps=%.1f\n", total / gs * 1.048576, total / hs * 1.048576);
	return 0;
}

static int bench_vsock(const char *bytes)
{
	char dir[64], uds[128], spec[200], cmd[64], out[8192], err[512];
	joey_vm *vm;
	if (!dt_tmpdir(dir, sizeof(dir)))
		return 1;
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(spec, sizeof(spec), "cid=3,uds=%s", uds);
	snprintf(cmd, sizeof(cmd), "bytes=%s", bytes);
	if (vmt_create(&vm, DEV_GUEST_DIR "/vsock_xfer.elf", 1, 64 << 20, cmd, err, sizeof(err)) ||
	    joey_vm_add_device(vm, "vsock", spec)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	char *argv[] = { BUILD_DIR "/devices/vsock_host", uds, (char *)bytes, "300", NULL };
	pid_t host = dt_spawn(argv, NULL);
	usleep(50000);
	double t0 = dt_now_ms();
	struct joey_event ev = { 0 };
	bool ok = !joey_vm_start(vm) && vmt_wait_end(vm, 300000, &ev, out, sizeof(out)) &&
		  ev.type == JOEY_EVENT_SHUTDOWN && ev.code == 0;
	double secs = (dt_now_ms() - t0) / 1e3;
	int hrc = dt_reap(host, 10000);
	joey_vm_destroy(vm);
	dt_rmtree(dir);
	if (!ok || hrc) {
		fprintf(stderr, "transfer failed\n%s", out);
		return 1;
	}
	/* Four streams of `bytes` each (two per direction) moved in secs. */
	printf("total_mbps=%.3f\n", 4.0 * (double)strtoull(bytes, NULL, 0) / 1e6 / secs);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && !strcmp(argv[1], "blk"))
		return bench_blk(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "vsock"))
		return bench_vsock(argv[2]);
	fprintf(stderr, "usage: bench_dev blk <file> rand|seq <count> | vsock <bytes>\n");
	return 2;
}
