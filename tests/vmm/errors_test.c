/* Every failure the issue names gives a clear message and a negative errno,
 * and the process carries on: missing /dev/kvm, a missing KVM capability,
 * unreadable or malformed kernels, memory too small for the image, an
 * initrd that does not fit, plus bad configurations and illegal calls. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "vm.h"

#define MIB (1ULL << 20)

static char tmpdir[64];

static const char *tmpfile_with(const char *name, const void *data, size_t len, off_t size)
{
	static char path[4][128];
	static int next;
	char *p = path[next++ % 4];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		return p;
	if (len && write(fd, data, len) != (ssize_t)len)
		perror("write");
	if (size && ftruncate(fd, size))
		perror("ftruncate");
	close(fd);
	return p;
}

/* Creates a VM expecting failure; returns the rc and leaves the text in err. */
static int create_fail(const char *kernel, const char *initrd, uint64_t mem, uint32_t vcpus,
		       char *err, size_t errlen)
{
	struct joey_vm_config cfg = { .vcpus = vcpus, .mem_bytes = mem, .kernel = kernel,
				      .initrd = initrd, .console_fd = -1 };
	joey_vm *vm = (joey_vm *)1;
	int rc = joey_vm_create(&cfg, &vm, err, (uint32_t)errlen);

	if (rc == 0)
		joey_vm_destroy(vm);
	else if (vm != NULL)
		return 12345; /* *out must be NULL on failure */
	return rc;
}

static int test_missing_dev_kvm(void)
{
	int pipefd[2];
	char buf[2 * JOEY_ERR_MAX + 64] = "";
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return harness_skip("hiding /dev/kvm needs a private mount namespace (root)");
	CHECK(pipe(pipefd) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		char check[JOEY_ERR_MAX] = "", create[JOEY_ERR_MAX] = "";
		int rc1 = -1, rc2 = -1;

		close(pipefd[0]);
		/* A private /dev without kvm, visible to this child only. */
		if (unshare(CLONE_NEWNS) == 0 &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		    mount("tmpfs", "/dev", "tmpfs", 0, NULL) == 0) {
			rc1 = joey_vmm_check(check, sizeof(check));
			rc2 = create_fail(guest_path("hello"), NULL, 8 * MIB, 1, create,
					  sizeof(create));
		}
		dprintf(pipefd[1], "%d|%s|%d|%s", rc1, check, rc2, create);
		close(pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	buf[n > 0 ? n : 0] = '\0';
	printf("    %s\n", buf);
	CHECK(strstr(buf, "-2|cannot open /dev/kvm: No such file or directory (KVM is not "
			  "available on this host)|-2|cannot open /dev/kvm"),
	      "got '%s'", buf);
	return PASS;
}

static int test_missing_capability(void)
{
	char err[JOEY_ERR_MAX];
	int fd = kvm__open(err, sizeof(err));

	CHECK(fd >= 0, "open: %s", err);
	/* A capability number no KVM has: the real /dev/kvm answers "no". */
	int rc = kvm__require_cap(fd, 0x7ffffff0, "KVM_CAP_TEST_ABSENT", err, sizeof(err));
	close(fd);
	CHECK(rc == -ENOTSUP, "rc %d", rc);
	CHECK(!strcmp(err, "/dev/kvm lacks the capability KVM_CAP_TEST_ABSENT"), "'%s'", err);
	CHECK(joey_vmm_check(err, sizeof(err)) == 0, "this host passes the real check: %s", err);
	return PASS;
}

static int test_unreadable_kernel(void)
{
	char err[JOEY_ERR_MAX];
	int rc = create_fail("/nonexistent/vmlinux", NULL, 8 * MIB, 1, err, sizeof(err));

	CHECK(rc == -ENOENT, "rc %d", rc);
	CHECK(!strcmp(err, "cannot open kernel '/nonexistent/vmlinux': No such file or directory"),
	      "'%s'", err);
	rc = create_fail(tmpdir, NULL, 8 * MIB, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "is not a regular file"), "%d '%s'", rc, err);
	rc = create_fail(NULL, NULL, 8 * MIB, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && !strcmp(err, "no kernel given"), "%d '%s'", rc, err);
	return PASS;
}

static int test_malformed_kernels(void)
{
	char err[JOEY_ERR_MAX];
	uint8_t junk[4096];
	int rc;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	rc = create_fail(tmpfile_with("junk", junk, sizeof(junk), 0), NULL, 8 * MIB, 1, err,
			 sizeof(err));
	CHECK(rc == -ENOEXEC && strstr(err, "is malformed: neither a bzImage nor an ELF"), "%d '%s'",
	      rc, err);

	rc = create_fail(tmpfile_with("empty", NULL, 0, 0), NULL, 8 * MIB, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "is malformed: size 0 bytes"), "%d '%s'", rc, err);

	/* ELF header whose program headers point past the end of the file. */
	Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = 64, .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 40 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	rc = create_fail(tmpfile_with("trunc.elf", &eh, sizeof(eh), 0), NULL, 8 * MIB, 1, err,
			 sizeof(err));
	CHECK(rc == -ENOEXEC && strstr(err, "program headers out of the file"), "%d '%s'", rc, err);

	eh.e_ident[EI_CLASS] = ELFCLASS32;
	rc = create_fail(tmpfile_with("elf32", &eh, sizeof(eh), 0), NULL, 8 * MIB, 1, err,
			 sizeof(err));
	CHECK(rc == -ENOEXEC && strstr(err, "not an x86-64 executable ELF"), "%d '%s'", rc, err);

	/* A bzImage of boot protocol 2.10: no 64-bit entry. */
	memset(junk, 0, sizeof(junk));
	junk[0x1fe] = 0x55;
	junk[0x1ff] = 0xaa;
	memcpy(junk + 0x202, "HdrS", 4);
	junk[0x206] = 0x0a;
	junk[0x207] = 0x02;
	rc = create_fail(tmpfile_with("old.bzImage", junk, sizeof(junk), 0), NULL, 8 * MIB, 1, err,
			 sizeof(err));
	CHECK(rc == -ENOEXEC && strstr(err, "has no 64-bit entry point (boot protocol 2.10"),
	      "%d '%s'", rc, err);
	return PASS;
}

static int test_memory_too_small(void)
{
	char err[JOEY_ERR_MAX];
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint8_t code[16];
	} img = { 0 };
	int rc;

	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_X86_64;
	img.eh.e_phoff = sizeof(img.eh);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 1;
	img.eh.e_entry = 64 * MIB;
	img.ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = sizeof(img.eh) + sizeof(img.ph),
			       .p_paddr = 64 * MIB, .p_vaddr = 64 * MIB, .p_filesz = 16,
			       .p_memsz = 1 * MIB };
	const char *path = tmpfile_with("high.elf", &img, sizeof(img), 0);
	rc = create_fail(path, NULL, 16 * MIB, 1, err, sizeof(err));
	CHECK(rc == -ENOMEM, "rc %d '%s'", rc, err);
	CHECK(strstr(err, "guest memory (16 MiB) is too small for kernel") &&
		      strstr(err, "it needs 65 MiB"),
	      "'%s'", err);
	/* The same image fits in 128 MiB. */
	rc = create_fail(path, NULL, 128 * MIB, 1, err, sizeof(err));
	CHECK(rc == 0, "128 MiB: %d '%s'", rc, err);
	return PASS;
}

static int test_initrd_does_not_fit(void)
{
	char err[JOEY_ERR_MAX];
	const char *big = tmpfile_with("big.initrd", NULL, 0, 12 * MIB);
	int rc = create_fail(guest_path("hello"), big, 8 * MIB, 1, err, sizeof(err));

	CHECK(rc == -ENOMEM, "rc %d '%s'", rc, err);
	CHECK(strstr(err, "initrd '") && strstr(err, "(12288 KiB) does not fit in guest memory"),
	      "'%s'", err);
	rc = create_fail(guest_path("hello"), "/nonexistent/initrd", 8 * MIB, 1, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, "cannot open initrd '/nonexistent/initrd'"), "%d '%s'",
	      rc, err);
	/* A small one fits. */
	rc = create_fail(guest_path("hello"), tmpfile_with("small.initrd", "0707", 4, 0), 8 * MIB,
			 1, err, sizeof(err));
	CHECK(rc == 0, "small initrd: %d '%s'", rc, err);
	return PASS;
}

static int test_bad_config(void)
{
	char err[JOEY_ERR_MAX];
	int rc = create_fail(guest_path("hello"), NULL, 8 * MIB, 0, err, sizeof(err));

	CHECK(rc == -EINVAL && !strcmp(err, "vCPU count 0 is invalid: need 1..32"), "%d '%s'", rc,
	      err);
	rc = create_fail(guest_path("hello"), NULL, 1 * MIB, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "memory size 1048576 bytes is invalid"), "%d '%s'", rc,
	      err);
	rc = create_fail(guest_path("hello"), NULL, 8 * MIB + 100, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "is invalid"), "%d '%s'", rc, err);
	rc = joey_vm_create(NULL, NULL, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "missing config"), "%d '%s'", rc, err);
	return PASS;
}

static int test_cmdline_too_long_and_unknown_device(void)
{
	char err[JOEY_ERR_MAX];
	static char longline[5001];
	joey_vm *vm;

	memset(longline, 'x', sizeof(longline) - 1);
	CHECK(vmt_create(&vm, guest_path("hello"), 1, 8 * MIB, longline, err, sizeof(err)) == 0,
	      "%s", err);
	int rc_dev = joey_vm_add_device(vm, "no-such-device", "");
	char dev_err[JOEY_ERR_MAX];
	joey_vm_last_error(vm, dev_err, sizeof(dev_err));
	int rc = joey_vm_start(vm);
	joey_vm_last_error(vm, err, sizeof(err));
	int state = joey_vm_state(vm);
	joey_vm_destroy(vm);
	CHECK(rc_dev == -ENOENT && !strcmp(dev_err, "unknown device type 'no-such-device'"),
	      "%d '%s'", rc_dev, dev_err);
	CHECK(rc == -E2BIG, "rc %d", rc);
	CHECK(!strcmp(err, "kernel command line is 5000 bytes; the kernel accepts at most 4095"),
	      "'%s'", err);
	CHECK(state == JOEY_VM_CREATED, "state %d", state);
	return PASS;
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/joey-vmm-errors-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	harness_run("missing /dev/kvm: clear message from check and create", test_missing_dev_kvm);
	harness_run("missing KVM capability is named", test_missing_capability);
	harness_run("unreadable kernel: missing file, directory, none given",
		    test_unreadable_kernel);
	harness_run("malformed kernels: junk, empty, truncated ELF, ELF32, old bzImage",
		    test_malformed_kernels);
	harness_run("memory too small for the image", test_memory_too_small);
	harness_run("initrd that does not fit, missing initrd", test_initrd_does_not_fit);
	harness_run("bad configurations", test_bad_config);
	harness_run("command line too long at start; unknown device type",
		    test_cmdline_too_long_and_unknown_device);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		printf("could not remove %s\n", tmpdir);
	return harness_finish();
}
