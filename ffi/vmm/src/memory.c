/* Guest RAM: one memfd mapped MAP_SHARED (so vhost-user back ends such as
 * virtiofsd can map the same pages), populated lazily by page faults, split
 * around the MMIO hole below 4 GiB and registered both with KVM and in the
 * VM's guest_mem, through which all loader and device accesses go. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

#define MIN_RAM (2ULL << 20)
#define MAX_RAM (1ULL << 40)
#define HUGE_2M (2ULL << 20)

static int memory__add_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			    uint64_t offset)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)(vm->ram + offset),
	};
	struct gm_region gr = {
		.gpa = gpa, .size = size, .host = vm->ram + offset,
		.fd = vm->mem_fd, .fd_offset = offset, .user_addr = 0,
	};
	int rc;

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		int e = errno;
		vm__set_error(vm, "KVM_SET_USER_MEMORY_REGION (%#llx bytes at %#llx): %s",
			      (unsigned long long)size, (unsigned long long)gpa, strerror(e));
		return -e;
	}
	rc = gm__add_region(&vm->gm, &gr);
	if (rc)
		vm__set_error(vm, "guest memory region at %#llx rejected", (unsigned long long)gpa);
	return rc;
}

int memory__setup(struct vm *vm, uint64_t size, bool hugepages)
{
	uint64_t low, align = hugepages ? HUGE_2M : 4096;
	int rc;

	if (size < MIN_RAM || size > MAX_RAM || size % align) {
		vm__set_error(vm, "memory size %llu bytes is invalid: need %llu MiB..%llu GiB in "
			      "multiples of %llu KiB", (unsigned long long)size,
			      (unsigned long long)(MIN_RAM >> 20), (unsigned long long)(MAX_RAM >> 30),
			      (unsigned long long)(align >> 10));
		return -EINVAL;
	}
	vm->mem_fd = memfd_create("joey-guest-ram", MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0));
	if (vm->mem_fd < 0) {
		int e = errno;
		vm__set_error(vm, "memfd_create for guest RAM: %s", strerror(e));
		return -e;
	}
	if (ftruncate(vm->mem_fd, (off_t)size) < 0) {
		int e = errno;
		vm__set_error(vm, "sizing guest RAM to %llu bytes: %s", (unsigned long long)size,
			      strerror(e));
		return -e;
	}
	/* MAP_NORESERVE: pages are only committed when the guest touches them. */
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		int e = errno;
		vm->ram = NULL;
		vm__set_error(vm, "mapping %llu bytes of guest RAM: %s", (unsigned long long)size,
			      strerror(e));
		return -e;
	}
	vm->ram_size = size;
	madvise(vm->ram, size, MADV_DONTDUMP);

	low = size < MMIO_HOLE_START ? size : MMIO_HOLE_START;
	rc = memory__add_slot(vm, 0, 0, low, 0);
	if (rc)
		return rc;
	if (size > low)
		rc = memory__add_slot(vm, 1, HIGH_RAM_START, size - low, low);
	return rc;
}

int64_t joey_vm_guest_resident(joey_vm *vm)
{
	struct stat st;

	if (!vm)
		return -EINVAL;
	/* A memfd's allocated blocks are exactly the pages the guest touched
	 * (and the loader wrote). */
	if (fstat(vm->mem_fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

void memory__teardown(struct vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	vm->mem_fd = -1;
}
