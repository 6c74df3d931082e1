/* Linux x86-64 boot protocol loader (PROTOCOLS.md §8): bzImage (64-bit
 * entry at load address + 0x200) or an x86-64 ELF (vmlinux or a test guest,
 * entered at e_entry), initrd at the top of low RAM, command line, e820
 * map, zero page, GDT and identity page tables. Every write to the guest
 * goes through gm__*; every size read from an image is checked. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lz4.h"
#include "vm.h"

/* Low-memory layout (same as Firecracker's, see PROTOCOLS.md). */
#define BOOT_GDT 0x500
#define ZERO_PAGE 0x7000
#define BOOT_PML4 0x9000
#define BOOT_PDPT 0xa000
#define BOOT_PD 0xb000 /* four pages: 4 GiB of 2 MiB pages */
#define CMDLINE_ADDR 0x20000
#define CMDLINE_MAX_DEFAULT 4095
#define EBDA_START 0x9fc00
#define HIMEM_START 0x100000
#define MAX_KERNEL_FILE (512u << 20)

/* boot_params offsets */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PAYLOAD_OFFSET 0x248
#define BP_PAYLOAD_LENGTH 0x24c
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0

#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define XLF_KERNEL_64 0x1
#define LOADFLAG_CAN_USE_HEAP 0x80

#define E820_RAM 1
#define E820_RESERVED 2

static uint16_t get16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint64_t low_ram_end(const struct vm *vm)
{
	return vm->ram_size < MMIO_HOLE_START ? vm->ram_size : MMIO_HOLE_START;
}

/* Reads a whole file into a fresh buffer. */
static int read_file(struct vm *vm, const char *what, const char *path, uint8_t **out,
		     size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		vm__set_error(vm, "cannot open %s '%s': %s", what, path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		vm__set_error(vm, "%s '%s' is not a regular file", what, path);
		goto out_close;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > MAX_KERNEL_FILE) {
		rc = -EINVAL;
		vm__set_error(vm, "%s '%s' is malformed: size %lld bytes", what, path,
			      (long long)st.st_size);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		rc = -ENOMEM;
		vm__set_error(vm, "out of memory reading %s '%s'", what, path);
		goto out_close;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			vm__set_error(vm, "cannot read %s '%s': %s", what, path, strerror(-rc));
			free(buf);
			goto out_close;
		}
		done += (size_t)n;
	}
	*out = buf;
	*len = done;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

static int too_small(struct vm *vm, const char *path, uint64_t need)
{
	vm__set_error(vm, "guest memory (%llu MiB) is too small for kernel '%s': it needs "
		      "%llu MiB", (unsigned long long)(vm->ram_size >> 20), path,
		      (unsigned long long)((need + (1 << 20) - 1) >> 20));
	return -ENOMEM;
}

static int load_elf(struct vm *vm, const char *path, const uint8_t *img, size_t len);

/* An LZ4 payload (the Debian cloud kernel's) is unpacked here and its
 * vmlinux entered directly at startup_64, with the bzImage's setup header
 * in the zero page: the guest's own decompressor would do the same work,
 * but where KVM emulates guest kernel code (PVM) it takes minutes. Returns
 * 1 when the payload is not LZ4 (the caller loads the bzImage as is). */
static int load_bzimage_lz4(struct vm *vm, const char *path, const uint8_t *img, size_t len,
			    size_t pm_off)
{
	uint64_t poff = get32(img, BP_PAYLOAD_OFFSET), plen = get32(img, BP_PAYLOAD_LENGTH);
	const uint8_t *payload = img + pm_off + poff;
	size_t produced = 0, cap;
	uint8_t *elf;
	int rc;

	if (poff > len - pm_off || plen > len - pm_off - poff || plen < 8 ||
	    !lz4__is_legacy(payload, plen))
		return 1;
	/* kbuild appends the uncompressed size (le32) to every payload. */
	cap = get32(payload, plen - 4);
	if (!cap || cap > MAX_KERNEL_FILE)
		return 1;
	elf = malloc(cap);
	if (!elf) {
		vm__set_error(vm, "out of memory unpacking kernel '%s'", path);
		return -ENOMEM;
	}
	rc = lz4__legacy_decompress(payload, plen, elf, cap, &produced);
	if (rc || produced < SELFMAG || memcmp(elf, ELFMAG, SELFMAG)) {
		free(elf);
		return 1;
	}
	rc = load_elf(vm, path, elf, produced);
	free(elf);
	return rc;
}

static int load_bzimage(struct vm *vm, const char *path, const uint8_t *img, size_t len)
{
	uint8_t *zp = vm->zero_page;
	size_t setup_sects, pm_off, hdr_end;
	uint64_t need, pref;
	uint16_t version;
	int rc;

	/* Every header field read below lies before BP_INIT_SIZE + 4. */
	if (len < BP_INIT_SIZE + 4) {
		vm__set_error(vm, "kernel '%s' is malformed: %zu bytes is shorter than a bzImage "
			      "setup header", path, len);
		return -ENOEXEC;
	}
	version = get16(img, BP_VERSION);
	if (version < 0x20c || !(get16(img, BP_XLOADFLAGS) & XLF_KERNEL_64)) {
		vm__set_error(vm, "kernel '%s' has no 64-bit entry point (boot protocol %u.%02u; "
			      "need 2.12 with XLF_KERNEL_64)", path, version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	pm_off = (setup_sects + 1) * 512;
	hdr_end = BP_HEADER + (size_t)img[BP_JUMP + 1];
	if (pm_off >= len || hdr_end > 0x1000 || hdr_end > len) {
		vm__set_error(vm, "kernel '%s' is malformed: setup of %zu sectors in %zu bytes",
			      path, setup_sects, len);
		return -ENOEXEC;
	}
	/* The decompressor runs in place and then extracts to pref_address, so
	 * both ranges must be RAM. */
	pref = get64(img, BP_PREF_ADDRESS);
	need = HIMEM_START + (len - pm_off);
	if (pref < (1ULL << 40) && pref + get32(img, BP_INIT_SIZE) > need)
		need = pref + get32(img, BP_INIT_SIZE);
	if (need > low_ram_end(vm))
		return too_small(vm, path, need);

	memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	rc = load_bzimage_lz4(vm, path, img, len, pm_off);
	if (rc <= 0) {
		if (!rc && vm->initrd_end < need)
			vm->initrd_end = need;
	} else {
		if (gm__write(&vm->gm, HIMEM_START, img + pm_off, len - pm_off))
			return too_small(vm, path, need);
		vm->entry = HIMEM_START + 0x200;
		vm->initrd_end = need;
		rc = 0;
	}
	vm->cmdline_max = get32(img, BP_CMDLINE_SIZE);
	if (!vm->cmdline_max || vm->cmdline_max > CMDLINE_MAX_DEFAULT)
		vm->cmdline_max = CMDLINE_MAX_DEFAULT;
	return rc;
}

static int load_elf(struct vm *vm, const char *path, const uint8_t *img, size_t len)
{
	const Elf64_Ehdr *eh = (const void *)img;
	uint64_t top = 0;

	if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
	    eh->e_type != ET_EXEC) {
		vm__set_error(vm, "kernel '%s' is malformed: not an x86-64 executable ELF", path);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff) {
		vm__set_error(vm, "kernel '%s' is malformed: program headers out of the file", path);
		return -ENOEXEC;
	}
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			vm__set_error(vm, "kernel '%s' is malformed: segment %u out of the file", path,
				      i);
			return -ENOEXEC;
		}
		if (ph.p_paddr + ph.p_memsz < ph.p_paddr || ph.p_paddr < HIMEM_START)
			goto bad_addr;
		if (ph.p_paddr + ph.p_memsz > low_ram_end(vm))
			return too_small(vm, path, ph.p_paddr + ph.p_memsz);
		if (gm__write(&vm->gm, ph.p_paddr, img + ph.p_offset, ph.p_filesz))
			goto bad_addr;
		/* Fresh memfd pages are zero; the bss needs no clearing. */
		if (ph.p_paddr + ph.p_memsz > top)
			top = ph.p_paddr + ph.p_memsz;
	}
	if (!top) {
		vm__set_error(vm, "kernel '%s' is malformed: no loadable segment", path);
		return -ENOEXEC;
	}
	/* The fields a vmlinux expects a boot loader to have filled in, unless
	 * they came from a bzImage's setup header. */
	if (get32(vm->zero_page, BP_HEADER) != HDRS_MAGIC) {
		vm->zero_page[BP_BOOT_FLAG] = 0x55;
		vm->zero_page[BP_BOOT_FLAG + 1] = 0xaa;
		put32(vm->zero_page, BP_HEADER, HDRS_MAGIC);
		put32(vm->zero_page, BP_KERNEL_ALIGNMENT, 0x1000000);
	}
	vm->cmdline_max = CMDLINE_MAX_DEFAULT;
	vm->entry = eh->e_entry;
	vm->initrd_end = top;
	return 0;

bad_addr:
	vm__set_error(vm, "kernel '%s' is malformed: a segment lies outside guest RAM", path);
	return -ENOEXEC;
}

static int load_initrd(struct vm *vm, const char *path)
{
	uint64_t max = 0x37ffffff, end, addr;
	struct stat st;
	uint64_t done = 0;
	void *dst;
	int fd, rc;

	if (get16(vm->zero_page, BP_VERSION) >= 0x203 && get32(vm->zero_page, BP_INITRD_ADDR_MAX))
		max = get32(vm->zero_page, BP_INITRD_ADDR_MAX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		vm__set_error(vm, "cannot open initrd '%s': %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		vm__set_error(vm, "initrd '%s' is not a regular file", path);
		goto out;
	}
	end = low_ram_end(vm) < max + 1 ? low_ram_end(vm) : max + 1;
	addr = ((uint64_t)st.st_size <= end ? end - (uint64_t)st.st_size : 0) & ~0xfffULL;
	if ((uint64_t)st.st_size > end || addr < vm->initrd_end) {
		rc = -ENOMEM;
		vm__set_error(vm, "initrd '%s' (%llu KiB) does not fit in guest memory: the kernel "
			      "ends at %#llx and the initrd must end below %#llx", path,
			      (unsigned long long)(st.st_size >> 10),
			      (unsigned long long)vm->initrd_end, (unsigned long long)end);
		goto out;
	}
	dst = gm__ptr(&vm->gm, addr, (uint64_t)st.st_size);
	if (!dst) {
		rc = -EFAULT;
		vm__set_error(vm, "initrd '%s' placement %#llx outside guest RAM", path,
			      (unsigned long long)addr);
		goto out;
	}
	/* SAFETY: dst spans st_size bytes of guest RAM, checked by gm__ptr. */
	while (done < (uint64_t)st.st_size) {
		ssize_t n = pread(fd, (uint8_t *)dst + done, (size_t)st.st_size - done, (off_t)done);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			vm__set_error(vm, "cannot read initrd '%s': %s", path, strerror(-rc));
			goto out;
		}
		done += (uint64_t)n;
	}
	put32(vm->zero_page, BP_RAMDISK_IMAGE, (uint32_t)addr);
	put32(vm->zero_page, BP_RAMDISK_SIZE, (uint32_t)st.st_size);
	put32(vm->zero_page, BP_EXT_RAMDISK_IMAGE, (uint32_t)(addr >> 32));
	put32(vm->zero_page, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)st.st_size >> 32));
	rc = 0;
out:
	close(fd);
	return rc;
}

int loader__load(struct vm *vm, const char *kernel, const char *initrd)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int rc;

	if (!kernel || !*kernel) {
		vm__set_error(vm, "no kernel given");
		return -EINVAL;
	}
	vm->zero_page = calloc(1, 4096);
	if (!vm->zero_page) {
		vm__set_error(vm, "out of memory for the zero page");
		return -ENOMEM;
	}
	rc = read_file(vm, "kernel", kernel, &img, &len);
	if (rc)
		return rc;
	if (len >= 4 && !memcmp(img, ELFMAG, SELFMAG)) {
		rc = load_elf(vm, kernel, img, len);
	} else if (len > BP_HEADER + 4 && get32(img, BP_HEADER) == HDRS_MAGIC &&
		   get16(img, BP_BOOT_FLAG) == 0xaa55) {
		rc = load_bzimage(vm, kernel, img, len);
	} else {
		vm__set_error(vm, "kernel '%s' is malformed: neither a bzImage nor an ELF", kernel);
		rc = -ENOEXEC;
	}
	free(img);
	if (!rc && initrd && *initrd)
		rc = load_initrd(vm, initrd);
	return rc;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = zp[BP_E820_ENTRIES];
	uint8_t *e = zp + BP_E820_TABLE + (size_t)n * 20;

	put64(e, 0, addr);
	put64(e, 8, size);
	put32(e, 16, type);
	zp[BP_E820_ENTRIES] = n + 1;
}

/* The identity map is user-accessible (U bit at every level): Linux replaces
 * it at once, and test guests run their code at CPL 3, the ring a PVM host
 * runs natively (tests/vmm/guests/lib/runtime.c). */
static int write_page_tables(struct vm *vm)
{
	uint64_t pml4 = BOOT_PDPT | 7, pdpt[4], pd[512];
	int rc = gm__write(&vm->gm, BOOT_PML4, &pml4, sizeof(pml4));

	for (unsigned int i = 0; i < 4 && !rc; i++) {
		pdpt[i] = (BOOT_PD + i * 0x1000ULL) | 7; /* P|RW|U */
		for (unsigned int j = 0; j < 512; j++)
			pd[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) + 0x87; /* P|RW|U|PS */
		rc = gm__write(&vm->gm, BOOT_PD + i * 0x1000ULL, pd, sizeof(pd));
	}
	return rc ? rc : gm__write(&vm->gm, BOOT_PDPT, pdpt, sizeof(pdpt));
}

static int write_gdt(struct vm *vm)
{
	static const uint64_t gdt[5] = {
		0, 0,
		0x00af9b000000ffffULL, /* 0x10: 64-bit code */
		0x00cf93000000ffffULL, /* 0x18: data */
		0x00008b0000000067ULL, /* 0x20: TSS (busy), base 0 */
	};

	return gm__write(&vm->gm, BOOT_GDT, gdt, sizeof(gdt));
}

int loader__finalize(struct vm *vm)
{
	uint8_t *zp = vm->zero_page;
	size_t cmdlen = strlen(vm->cmdline);
	uint64_t low = low_ram_end(vm);
	int rc;

	if (cmdlen > vm->cmdline_max) {
		vm__set_error(vm, "kernel command line is %zu bytes; the kernel accepts at most %u",
			      cmdlen, vm->cmdline_max);
		return -E2BIG;
	}
	if (gm__write(&vm->gm, CMDLINE_ADDR, vm->cmdline, cmdlen + 1)) {
		vm__set_error(vm, "command line does not fit in guest memory");
		return -ENOMEM;
	}
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	zp[BP_HEAP_END_PTR] = 0x00;
	zp[BP_HEAP_END_PTR + 1] = 0xfe;
	put32(zp, BP_CMD_LINE_PTR, CMDLINE_ADDR);
	put32(zp, BP_EXT_CMD_LINE_PTR, 0);
	zp[BP_E820_ENTRIES] = 0;
	e820_add(zp, 0, EBDA_START, E820_RAM);
	e820_add(zp, EBDA_START, 0x100000 - EBDA_START, E820_RESERVED);
	e820_add(zp, HIMEM_START, low - HIMEM_START, E820_RAM);
	if (vm->ram_size > low)
		e820_add(zp, HIGH_RAM_START, vm->ram_size - low, E820_RAM);

	rc = write_page_tables(vm);
	if (!rc)
		rc = write_gdt(vm);
	if (!rc)
		rc = mptable__write(vm);
	if (!rc)
		rc = gm__write(&vm->gm, ZERO_PAGE, zp, 4096);
	if (rc) {
		vm__set_error(vm, "writing boot structures into guest memory failed");
		return rc;
	}
	rc = vcpu__setup_boot(&vm->vcpus[0], vm->entry, ZERO_PAGE);
	if (rc)
		vm__set_error(vm, "setting the boot vCPU's registers: %s", strerror(-rc));
	return rc;
}
