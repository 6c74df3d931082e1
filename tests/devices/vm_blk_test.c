/* virtio-blk driven by a test guest (tests/devices/guests/blk_rw.c): write,
 * flush, read back with a checksum the host recomputes from the file
 * itself, GET_ID, out-of-range requests, and a read-only second disk whose
 * file must stay untouched; and (tests/devices/guests/blk_burst.c) more requests
 * than the per-kick budget under EVENT_IDX with a single notify. */
#include <fcntl.h>
#include <inttypes.h>

#include "../devices/linux/pattern.h"
#include "dev_test.h"
#include "harness.h"

static int make_file(const char *path, size_t size, uint8_t fill)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	uint8_t buf[4096];
	memset(buf, fill, sizeof(buf));
	if (fd < 0)
		return -1;
	for (size_t off = 0; off < size; off += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	close(fd);
	return 0;
}

static int blk_write_flush_readback(void)
{
	char dir[64], disk[128], rodisk[128], spec[300], out[8192], err[512];
	joey_vm *vm = NULL;
	int rc = FAIL;
	const size_t kib = 256;
	if (!dt_tmpdir(dir, sizeof(dir)))
		return FAIL;
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	snprintf(rodisk, sizeof(rodisk), "%s/ro.img", dir);
	if (make_file(disk, 4 << 20, 0) || make_file(rodisk, 1 << 20, 0x5a))
		goto out;
	if (vmt_create(&vm, DEV_GUEST_DIR "/blk_rw.elf", 1, 64 << 20, "kib=256", err, sizeof(err))) {
		printf("    create: %s\n", err);
		goto out;
	}
	snprintf(spec, sizeof(spec), "path=%s,id=joey-test-disk", disk);
	int a = joey_vm_add_device(vm, "blk", spec);
	snprintf(spec, sizeof(spec), "path=%s,ro=1", rodisk);
	int b = joey_vm_add_device(vm, "blk", spec);
	if (a || b || joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    setup: %s\n", err);
		goto out;
	}
	struct joey_event ev = { 0 };
	bool ended = vmt_wait_end(vm, 120000, &ev, out, sizeof(out));
	printf("%s", out);
	if (!dt_guest_ok(ended, &ev, out))
		goto out;
	/* The host's view of the file: the pattern, and the guest's checksum. */
	FILE *f = fopen(disk, "rb");
	uint8_t buf[8192];
	struct pattern p;
	uint64_t fnv = 0xcbf29ce484222325ull;
	pattern_init(&p, 7);
	for (size_t done = 0; f && done < kib * 1024; done += sizeof(buf)) {
		if (fread(buf, 1, sizeof(buf), f) != sizeof(buf) ||
		    pattern_check(&p, buf, sizeof(buf)) != sizeof(buf)) {
			printf("    file content differs near %zu\n", done);
			fclose(f);
			goto out;
		}
		for (size_t i = 0; i < sizeof(buf); i++)
			fnv = (fnv ^ buf[i]) * 0x100000001b3ull;
	}
	if (f)
		fclose(f);
	char want[64];
	snprintf(want, sizeof(want), "fnv1a 0x%016" PRIx64, fnv);
	if (!strstr(out, want)) {
		printf("    guest checksum does not match the file's (%s)\n", want);
		goto out;
	}
	f = fopen(rodisk, "rb");
	size_t bad = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		bad += c != 0x5a;
	if (f)
		fclose(f);
	if (!f || bad) {
		printf("    read-only disk changed (%zu bytes)\n", bad);
		goto out;
	}
	printf("    file checksum matches the guest's: %s\n", want);
	rc = PASS;
out:
	if (vm)
		joey_vm_destroy(vm);
	dt_rmtree(dir);
	return rc;
}

/* Regression: the device serves at most 256 chains per kick. With EVENT_IDX
 * a driver does not notify for requests it posts while avail_event says the
 * device is still busy, so a device that stops at its budget must re-kick
 * itself. blk_burst fills the 256-entry ring, notifies once and keeps
 * re-posting (512 reads) without notifying unless asked; before the fix it
 * stalled forever after the first 256. Each read is checked in the guest
 * against the file's known content. */
#define BURST_KEY 0x9e3779b97f4a7c15ull
#define BURST_TIMEOUT_MS 10000

static int blk_burst_past_budget(void)
{
	char dir[64], disk[128], spec[200], out[4096], err[512];
	joey_vm *vm = NULL;
	int rc = FAIL, fd = -1;
	uint64_t words[512];
	if (!dt_tmpdir(dir, sizeof(dir)))
		return FAIL;
	snprintf(disk, sizeof(disk), "%s/burst.img", dir);
	fd = open(disk, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		goto out;
	/* 2 MiB = 512 distinct 4 KiB blocks: word at offset o is o ^ key. */
	for (uint64_t off = 0; off < (2u << 20); off += sizeof(words)) {
		for (size_t i = 0; i < 512; i++)
			words[i] = (off + i * 8) ^ BURST_KEY;
		if (write(fd, words, sizeof(words)) != (ssize_t)sizeof(words))
			goto out;
	}
	close(fd);
	fd = -1;
	if (vmt_create(&vm, DEV_GUEST_DIR "/blk_burst.elf", 1, 64 << 20, "count=512", err,
		       sizeof(err))) {
		printf("    create: %s\n", err);
		goto out;
	}
	snprintf(spec, sizeof(spec), "path=%s", disk);
	if (joey_vm_add_device(vm, "blk", spec) || joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    setup: %s\n", err);
		goto out;
	}
	struct joey_event ev = { 0 };
	double t0 = now_ms();
	bool ended = vmt_wait_end(vm, BURST_TIMEOUT_MS, &ev, out, sizeof(out));
	printf("%s", out);
	/* The guest gives up after ~3 s without progress; the host after 10 s. */
	if (!ended || strstr(out, "stalled")) {
		printf("    guest did not finish 512 reads (%.0f ms): the device left "
		       "requests queued past its per-kick budget and never came back "
		       "(EVENT_IDX driver stalled)\n",
		       now_ms() - t0);
		goto out;
	}
	if (!dt_guest_ok(ended, &ev, out))
		goto out;
	printf("    512 reads past the 256-chain budget done in %.0f ms\n", now_ms() - t0);
	rc = PASS;
out:
	if (fd >= 0)
		close(fd);
	if (vm)
		joey_vm_destroy(vm);
	dt_rmtree(dir);
	return rc;
}

int main(void)
{
	DT_REQUIRE_KVM();
	harness_run("blk: write, flush, read back + checksum vs file, get-id, range, read-only",
		    blk_write_flush_readback);
	harness_run("blk: >256 reads with EVENT_IDX and one notify complete (budget re-kick)",
		    blk_burst_past_budget);
	return harness_finish();
}
