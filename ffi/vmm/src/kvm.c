/* /dev/kvm: opening it, checking what the VMM needs, creating the VM with its
 * in-kernel interrupt controllers, and the CPUID the vCPUs will see. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm.h"

#define KVM_DEV "/dev/kvm"
#define MAX_CPUID_ENTRIES 256
/* Three pages KVM needs below 4 GiB for the real-mode TSS on VMX, placed
 * just under the LAPIC/IOAPIC area, inside the MMIO hole. */
#define KVM_TSS_ADDR 0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

int kvm__open(char *err, size_t errlen)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open %s: %s%s", KVM_DEV, strerror(e),
			 e == ENOENT ? " (KVM is not available on this host)"
			 : e == EACCES ? " (no permission: add the user to the kvm group)"
				       : "");
		return -e;
	}
	return fd;
}

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

int kvm__require_cap(int kvm_fd, int cap, const char *name, char *err, size_t errlen)
{
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap) > 0)
		return 0;
	snprintf(err, errlen, "%s lacks the capability %s", KVM_DEV, name);
	return -ENOTSUP;
}

int kvm__check_caps(int kvm_fd, char *err, size_t errlen)
{
	int version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);

	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: KVM API version %d, need %d", KVM_DEV, version,
			 KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		int rc = kvm__require_cap(kvm_fd, required_caps[i].cap, required_caps[i].name, err,
					  errlen);

		if (rc)
			return rc;
	}
	return 0;
}

int kvm__create_vm(struct vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		int e = errno;
		vm__set_error(vm, "KVM_CREATE_VM: %s", strerror(e));
		return -e;
	}
	return 0;
}

int kvm__setup_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;

	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
		int e = errno;
		vm__set_error(vm, "KVM_SET_TSS_ADDR: %s", strerror(e));
		return -e;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int e = errno;
		vm__set_error(vm, "KVM_CREATE_IRQCHIP: %s", strerror(e));
		return -e;
	}
	if (!vm->no_pit && ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int e = errno;
		vm__set_error(vm, "KVM_CREATE_PIT2: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* Density (issue 9): one /dev/kvm fd, its capabilities checked once, and one
 * supported-CPUID table serve every VM of the process, instead of an fd,
 * eight capability ioctls, a KVM_GET_SUPPORTED_CPUID and ~10 KiB per VM.
 * Kept per pid, so a forked child opens its own, and only while a VM (or
 * pool shell) uses it, so a process without VMs holds no KVM fd. The lock
 * is held across the KVM ioctls only when the first VM opens it. */
static struct {
	pthread_mutex_t lock;
	pid_t pid;
	int fd;
	unsigned long users;
	struct kvm_cpuid2 *cpuid;
} kvm_sys = { PTHREAD_MUTEX_INITIALIZER, 0, -1, 0, NULL };

static void kvm__system_close(void)
{
	if (kvm_sys.fd >= 0)
		close(kvm_sys.fd);
	free(kvm_sys.cpuid);
	kvm_sys.fd = -1;
	kvm_sys.cpuid = NULL;
	kvm_sys.users = 0;
	kvm_sys.pid = 0;
}

static int kvm__system_open(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	int fd, rc;

	fd = kvm__open(vm->err, sizeof(vm->err));
	if (fd < 0)
		return fd;
	rc = kvm__check_caps(fd, vm->err, sizeof(vm->err));
	if (rc)
		goto err_close;
	cpuid = calloc(1, sizeof(*cpuid) + MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid) {
		vm__set_error(vm, "out of memory for CPUID");
		rc = -ENOMEM;
		goto err_close;
	}
	cpuid->nent = MAX_CPUID_ENTRIES;
	if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		rc = -errno;
		vm__set_error(vm, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
		free(cpuid);
		goto err_close;
	}
	kvm__system_close(); /* the parent's, inherited across fork */
	kvm_sys.fd = fd;
	kvm_sys.cpuid = cpuid;
	kvm_sys.pid = getpid();
	return 0;

err_close:
	close(fd);
	return rc;
}

int kvm__system(struct vm *vm)
{
	int rc = 0;

	pthread_mutex_lock(&kvm_sys.lock);
	if (kvm_sys.pid != getpid() || !kvm_sys.users)
		rc = kvm__system_open(vm);
	if (!rc) {
		vm->kvm_fd = kvm_sys.fd;
		vm->cpuid = kvm_sys.cpuid;
		kvm_sys.users++;
	}
	pthread_mutex_unlock(&kvm_sys.lock);
	return rc;
}

void kvm__system_put(struct vm *vm)
{
	if (vm->kvm_fd < 0)
		return;
	pthread_mutex_lock(&kvm_sys.lock);
	if (kvm_sys.pid == getpid() && kvm_sys.users && !--kvm_sys.users)
		kvm__system_close();
	pthread_mutex_unlock(&kvm_sys.lock);
	vm->kvm_fd = -1;
	vm->cpuid = NULL;
}
