/* virtio-blk driven by a test guest (tests/devices/guests/blk_rw.c): write,
 * flush, read back with a checksum the host recomputes from the file
 * itself, GET_ID, out-of-range requests, and a read-only second disk whose
 * file must stay untouched. */
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

int main(void)
{
	DT_REQUIRE_KVM();
	harness_run("blk: write, flush, read back + checksum vs file, get-id, range, read-only",
		    blk_write_flush_readback);
	return harness_finish();
}
