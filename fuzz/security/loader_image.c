/* libFuzzer target: the Linux loader (ffi/vmm/src/loader.c) on arbitrary
 * kernel images — ELF program headers, bzImage setup headers, the LZ4
 * payload decoder and the initrd placement behind them.
 *
 * The image comes from the operator's configuration, not the guest, but a
 * kernel path is one of the things a pod annotation may name where the
 * configuration allows it, so the parser must hold against any bytes. The
 * target builds a VM object with plain anonymous RAM (no KVM), writes the
 * input to a memfd and calls loader__load on /proc/self/fd/N, the same
 * entry joey_vm_create uses. The first byte picks the RAM size so that
 * "image larger than memory" paths are reached too; with its top bit set the
 * tail of the input after a 0xff 0xfe separator is also loaded as an initrd. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm.h"

#define MIB (1ULL << 20)

static struct vm *vm;
static uint8_t *ram;
static const uint64_t ram_sizes[] = { 2 * MIB, 16 * MIB, 48 * MIB };
static int kfd = -1, ifd = -1;

static int setup(void)
{
	kfd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	ifd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	ram = mmap(NULL, 48 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	return kfd >= 0 && ifd >= 0 && ram != MAP_FAILED ? 0 : -1;
}

static int put(int fd, const uint8_t *data, size_t len)
{
	if (ftruncate(fd, 0) || (len && pwrite(fd, data, len, 0) != (ssize_t)len))
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char kpath[64], ipath[64];
	const uint8_t *initrd = NULL;
	size_t klen, ilen = 0;
	struct gm_region r;
	uint64_t mem;

	if (!ram && setup())
		return 0;
	if (size < 1)
		return 0;
	mem = ram_sizes[(data[0] & 0x7f) % 3];
	klen = size - 1;
	if (data[0] & 0x80) {
		for (size_t i = 1; i + 1 < size; i++) {
			if (data[i] == 0xff && data[i + 1] == 0xfe) {
				klen = i - 1;
				initrd = data + i + 2;
				ilen = size - i - 2;
				break;
			}
		}
	}
	if (put(kfd, data + 1, klen) || put(ifd, initrd ? initrd : data, ilen))
		return 0;
	vm = vm__alloc();
	if (!vm)
		return 0;
	vm->ram = ram;
	vm->ram_size = mem;
	r = (struct gm_region){ .gpa = 0, .size = mem, .host = ram, .fd = -1 };
	if (gm__add_region(&vm->gm, &r) == 0) {
		snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
		snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", ifd);
		/* Success or a clean negative errno; the sanitizers catch the rest. */
		(void)loader__load(vm, kpath, initrd ? ipath : NULL);
	}
	/* vm__free releases what the loader allocated; it owns no RAM here. */
	vm->ram = NULL;
	vm->ram_size = 0;
	vm__free(vm);
	vm = NULL;
	/* Keep RSS flat: drop what this input dirtied. */
	madvise(ram, mem, MADV_DONTNEED);
	return 0;
}
