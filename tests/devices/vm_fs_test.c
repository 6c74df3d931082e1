/* virtio-fs through real virtiofsd: the test starts /usr/lib/qemu/virtiofsd
 * on a temporary shared directory holding hello.txt (pattern 21), adds an
 * "fs" device connected to it, and the test guest does FUSE_INIT, LOOKUP,
 * OPEN and READ and checks the content. virtiofsd maps guest RAM from the
 * VMM's memfd, so this also proves the shared-memory table is right. */
#include <sys/stat.h>

#include "../devices/linux/pattern.h"
#include "dev_test.h"
#include "harness.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

static int fs_init_lookup_read(void)
{
	char dir[64], shared[128], sock[128], file[160], src[160], log[128], out[8192], err[512];
	char spec[256];
	joey_vm *vm = NULL;
	pid_t vfsd = -1;
	int rc = FAIL;
	if (access(VIRTIOFSD, X_OK))
		return harness_skip(VIRTIOFSD " is not installed (package qemu-system-common)");
	if (!dt_tmpdir(dir, sizeof(dir)))
		return FAIL;
	snprintf(shared, sizeof(shared), "%s/shared", dir);
	snprintf(sock, sizeof(sock), "%s/vfsd.sock", dir);
	snprintf(file, sizeof(file), "%s/hello.txt", shared);
	snprintf(log, sizeof(log), "%s/virtiofsd.log", dir);
	mkdir(shared, 0755);
	uint8_t content[3000];
	struct pattern p;
	pattern_init(&p, 21);
	pattern_fill(&p, content, sizeof(content));
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(content, 1, sizeof(content), f) != sizeof(content)) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	snprintf(src, sizeof(src), "source=%s", shared);
	char sockopt[160];
	snprintf(sockopt, sizeof(sockopt), "--socket-path=%s", sock);
	char *argv[] = { VIRTIOFSD, sockopt, "-o", src, "-o", "cache=none", "-o", "sandbox=chroot",
			 NULL };
	vfsd = dt_spawn(argv, log);
	for (int i = 0; i < 200 && access(sock, F_OK); i++)
		usleep(10000);
	if (vmt_create(&vm, DEV_GUEST_DIR "/fs_fuse.elf", 1, 64 << 20, "size=3000", err,
		       sizeof(err))) {
		printf("    create: %s\n", err);
		goto out;
	}
	snprintf(spec, sizeof(spec), "socket=%s,tag=joeytest", sock);
	if (joey_vm_add_device(vm, "fs", spec) || joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    setup: %s\n", err);
		goto out;
	}
	struct joey_event ev = { 0 };
	bool ended = vmt_wait_end(vm, 60000, &ev, out, sizeof(out));
	printf("%s", out);
	if (dt_guest_ok(ended, &ev, out))
		rc = PASS;
out:
	if (vm)
		joey_vm_destroy(vm);
	/* virtiofsd ends when its front end goes away. */
	if (vfsd > 0 && dt_reap(vfsd, 5000) < 0 && rc == PASS) {
		printf("    virtiofsd did not exit after the VM was destroyed\n");
		rc = FAIL;
	}
	if (rc != PASS)
		dt_cat(log, "    virtiofsd: ");
	dt_rmtree(dir);
	return rc;
}

int main(void)
{
	DT_REQUIRE_KVM();
	harness_run("fs: FUSE_INIT, LOOKUP, OPEN, READ through virtiofsd", fs_init_lookup_read);
	return harness_finish();
}
