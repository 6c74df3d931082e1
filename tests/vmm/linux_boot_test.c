/* Linux loader smoke test: the built-in VMM loads a real kernel (the
 * project's build/guest/kernel/vmlinux or bzImage if built, else the Debian cloud
 * kernel) with an initrd, and the serial console shows the banner, the
 * exact command line passed, and the e820 map the VMM built. With VMX/SVM
 * the kernel must also reach /init; on PVM it stops at a known limit. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)
#define MEM (256 * MIB)
#define OUT_MAX (256 * 1024)

static char kernel[512], initrd[512];
static bool own_kernel; /* the project's kernel: MP tables parsed (no ACPI) */

static bool find_boot_file(const char *prefix, char *out, size_t len)
{
	DIR *d = opendir("/boot");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && strstr(e->d_name, "-cloud-amd64")) {
			snprintf(out, len, "/boot/%s", e->d_name);
			found = true;
		}
	closedir(d);
	return found;
}

/* The project's kernel first: its vmlinux (entered directly, no
 * decompressor to emulate), else its bzImage; then the Debian cloud kernel. */
static bool pick_kernel(void)
{
	const char *own_initrd = "build/guest/initrd.img";
	const char *own = access("build/guest/kernel/vmlinux", R_OK) == 0
				  ? "build/guest/kernel/vmlinux"
				  : "build/guest/kernel/bzImage";

	if (access(own, R_OK) == 0) {
		own_kernel = true;
		snprintf(kernel, sizeof(kernel), "%s", own);
		if (access(own_initrd, R_OK) == 0)
			snprintf(initrd, sizeof(initrd), "%s", own_initrd);
		else
			find_boot_file("initrd.img-", initrd, sizeof(initrd));
		return true;
	}
	return find_boot_file("vmlinuz-", kernel, sizeof(kernel)) &&
	       find_boot_file("initrd.img-", initrd, sizeof(initrd));
}

static int test_linux_banner_cmdline_e820(void)
{
	static char out[OUT_MAX];
	const char *cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 "
			      "joey.smoke=e820-check rdinit=/init";
	struct joey_vm_config cfg = {
		.vcpus = 2, .mem_bytes = MEM, .kernel = kernel, .initrd = initrd,
		.cmdline = cmdline, .console_fd = -1, .console_ring = OUT_MAX,
	};
	bool vmx = host_has_vmx_svm();
	char err[JOEY_ERR_MAX], why[JOEY_ERR_MAX] = "";
	struct joey_event ev = { 0 };
	joey_vm *vm;
	int rc;

	if (!kernel[0])
		return harness_skip("no kernel: neither build/guest/kernel/bzImage nor "
				    "/boot/vmlinuz-*-cloud-amd64 with its initrd");
	printf("    kernel %s, initrd %s\n", kernel, initrd[0] ? initrd : "(none)");
	double t_create = now_ms();
	rc = joey_vm_create(&cfg, &vm, err, sizeof(err));
	CHECK(rc == 0, "create: %s", err);
	CHECK(joey_vm_start(vm) == 0, "start");

	char e820_high[128];
	snprintf(e820_high, sizeof(e820_high), "[mem 0x0000000000100000-0x%016llx] usable",
		 (unsigned long long)(MEM - 1));
	double t0 = now_ms();
	printf("    created in %.0f ms\n", t0 - t_create);
	bool banner = vmt_wait_output(vm, 60000, e820_high, out, sizeof(out));
	double t_e820 = now_ms() - t0;
	/* The project's kernel reads the MP table: both vCPUs are listed. */
	size_t used0 = strlen(out);
	bool smp = own_kernel &&
		   vmt_wait_output(vm, 30000, "smpboot: Allowing 2 CPUs", out + used0,
				   sizeof(out) - used0);
	/* Past the e820 map: with VMX/SVM the kernel must reach /init; on PVM
	 * the kernel's own code is emulated and it stops (or crawls) here. */
	size_t used = strlen(out);
	bool ended = false;
	if (vmx)
		ended = vmt_wait_output(vm, 60000, "Run /init", out + used, sizeof(out) - used);
	else
		ended = vmt_wait_end(vm, 5000, &ev, out + used, sizeof(out) - used);
	joey_vm_last_error(vm, why, sizeof(why));
	joey_vm_destroy(vm);

	printf("    e820 map on the console after %.0f ms\n", t_e820);
	CHECK(banner, "no e820 map within 60 s; console: '%.3000s'", out);
	CHECK(strstr(out, "Linux version "), "no banner; console: '%.2000s'", out);
	char want_cmdline[1024];
	snprintf(want_cmdline, sizeof(want_cmdline), "Command line: %s", cmdline);
	const char *at = strstr(out, want_cmdline);
	/* Exact: nothing may follow on that line (the serial console ends lines
	 * with \r\n). */
	CHECK(at && (at[strlen(want_cmdline)] == '\r' || at[strlen(want_cmdline)] == '\n'),
	      "exact command line missing; console: '%.3000s'", out);
	CHECK(strstr(out, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
	      "e820 low RAM entry missing");
	CHECK(strstr(out, "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved"),
	      "e820 reserved entry missing");
	CHECK(strstr(out, e820_high), "e820 RAM entry above 1 MiB missing (want '%s')", e820_high);
	if (own_kernel) {
		CHECK(smp && strstr(out, "found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]"),
		      "the kernel did not take 2 CPUs from the MP table");
		printf("    MP table: the kernel found it and allows 2 CPUs\n");
	}
	if (vmx) {
		CHECK(ended, "the kernel did not reach /init within 60 s; last error: %s", why);
		printf("    reached /init\n");
	} else if (ended) {
		printf("    no VMX/SVM (PVM): the kernel stopped at the known limit: event %u, %s\n",
		       ev.type, why);
	} else {
		char *end = out + strlen(out), *tail;
		while (end > out && (end[-1] == '\n' || end[-1] == '\r'))
			*--end = '\0';
		tail = strrchr(out, '\n');
		printf("    no VMX/SVM (PVM): guest kernel code is emulated; 5 s after the e820 map "
		       "it was still running, last line: %s\n", tail ? tail + 1 : out);
	}
	(void)ev;
	return PASS;
}

int main(void)
{
	pick_kernel();
	harness_run("Linux loader: banner, exact command line and e820 map on the console",
		    test_linux_banner_cmdline_e820);
	return harness_finish();
}
