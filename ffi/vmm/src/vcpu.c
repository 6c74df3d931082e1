/* vCPUs: creation (CPUID, MSRs, boot registers), one thread each running
 * KVM_RUN, exit decoding in one switch, and the pause/stop handshake.
 *
 * Kicking: a requester sets its flag under vm->lock, sets run->immediate_exit
 * and sends SIG_KICK to the thread. Whether the thread is inside KVM_RUN (the
 * signal interrupts it) or about to enter it (immediate_exit makes it return
 * at once), it comes back to the loop top, which re-reads the flags under the
 * lock; so no request is lost. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "seccomp.h"
#include "vm.h"

#define SIG_KICK (SIGRTMIN + 5)
#define VCPU_STACK (1u << 20)

/* Boot layout shared with loader.c. */
#define BOOT_GDT 0x500
#define BOOT_PML4 0x9000
#define BOOT_STACK 0x8ff0

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

static void vcpu__kick_handler(int sig)
{
	(void)sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void vcpu__install_kick(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu__kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	sigaction(SIG_KICK, &sa, NULL);
}

static unsigned int order_of(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Leaf 0xb (extended topology) subleaf `index`: SMT level of one thread,
 * then a core level of nr_vcpus, then the invalid level that ends it. */
static void topology_leaf(struct kvm_cpuid_entry2 *e, uint32_t index, unsigned int nr,
			  unsigned int apic_id)
{
	e->function = 0xb;
	e->index = index;
	e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	e->edx = apic_id;
	if (index == 0) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1u << 8) | 0;
	} else if (index == 1) {
		e->eax = order_of(nr);
		e->ebx = nr;
		e->ecx = (2u << 8) | 1;
	} else {
		e->eax = e->ebx = 0;
		e->ecx = index;
	}
}

/* The supported CPUID, adjusted per vCPU: hypervisor bit, APIC IDs and a
 * topology of nr_vcpus cores in one package (leaves 1, 4 and 0xb for Intel
 * guests' view, 0x80000008 for AMD's). KVM may list only subleaf 0 of 0xb;
 * the others are added. */
static int vcpu__set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *base = vcpu->vm->cpuid;
	unsigned int nr = vcpu->vm->nr_vcpus;
	size_t bytes = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(bytes + 3 * sizeof(base->entries[0]));
	bool topo[3] = { false, false, false };
	int rc = 0;

	if (!cpuid)
		return -ENOMEM;
	memcpy(cpuid, base, bytes);
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ecx |= 1u << 31; /* running under a hypervisor */
			e->ebx = (e->ebx & 0xffff) | (nr << 16) | (vcpu->index << 24);
			if (nr > 1)
				e->edx |= 1u << 28; /* HTT: the count above is valid */
			break;
		case 4:
			e->eax = (e->eax & 0x03ffffff) | ((nr - 1) << 26);
			break;
		case 0xb:
			topology_leaf(e, e->index, nr, vcpu->index);
			if (e->index < 3)
				topo[e->index] = true;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (nr - 1); /* cores per package - 1 */
			break;
		default:
			break;
		}
	}
	for (uint32_t idx = 0; idx < 3; idx++)
		if (!topo[idx])
			topology_leaf(&cpuid->entries[cpuid->nent++], idx, nr, vcpu->index);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		rc = -errno;
	free(cpuid);
	return rc;
}

static int vcpu__set_msrs(struct vcpu *vcpu)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 }, /* fast string operations */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 }, /* MTRRs on, default write-back */
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[N];
	} msrs;
	int rc;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N;
	for (unsigned int i = 0; i < N; i++) {
		msrs.entries[i].index = boot_msrs[i].index;
		msrs.entries[i].data = boot_msrs[i].data;
	}
	rc = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (rc < 0)
		return -errno;
	if (rc != N) {
		vm__set_error(vcpu->vm, "vCPU %u: KVM refused MSR %#x", vcpu->index,
			      msrs.entries[rc].index);
		return -ENOTSUP;
	}
	return 0;
}

int vcpu__create(struct vm *vm, unsigned int index)
{
	struct vcpu *vcpu = &vm->vcpus[index];
	int size, rc;

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (vcpu->fd < 0) {
		rc = -errno;
		vm__set_error(vm, "KVM_CREATE_VCPU %u: %s", index, strerror(-rc));
		return rc;
	}
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		rc = size < 0 ? -errno : -EINVAL;
		vm__set_error(vm, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(-rc));
		return rc;
	}
	vcpu->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		rc = -errno;
		vcpu->run = NULL;
		vm__set_error(vm, "mapping vCPU %u's kvm_run: %s", index, strerror(-rc));
		return rc;
	}
	vcpu->run_size = (size_t)size;
	rc = vcpu__set_cpuid(vcpu);
	if (rc) {
		vm__set_error(vm, "KVM_SET_CPUID2 on vCPU %u: %s", index, strerror(-rc));
		return rc;
	}
	rc = vcpu__set_msrs(vcpu);
	if (rc == -ENOTSUP)
		return rc;
	if (rc)
		vm__set_error(vm, "KVM_SET_MSRS on vCPU %u: %s", index, strerror(-rc));
	return rc;
}

static void seg(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1,
	};
}

/* 64-bit boot protocol entry state (PROTOCOLS.md §8): long mode, paging on
 * with the loader's identity map, CS 0x10 / data 0x18, RSI = boot_params. */
int vcpu__setup_boot(struct vcpu *vcpu, uint64_t entry, uint64_t boot_params)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg(&sregs.cs, 0x10, 0xb, true);
	seg(&sregs.ds, 0x18, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb,
					 .present = 1, .s = 0 };
	sregs.gdt.base = BOOT_GDT;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x80000011; /* PG | ET | PE */
	sregs.cr3 = BOOT_PML4;
	sregs.cr4 = 0x20;   /* PAE */
	sregs.efer = 0x500; /* LME | LMA */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = entry;
	regs.rsp = regs.rbp = BOOT_STACK;
	regs.rsi = boot_params;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

static const char *internal_error_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	default:
		return "unexpected exit";
	}
}

static uint64_t vcpu__rip(struct vcpu *vcpu)
{
	struct kvm_regs regs;

	return ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ? 0 : regs.rip;
}

static void vcpu__fault(struct vcpu *vcpu, uint32_t reason, uint64_t detail, const char *what)
{
	uint64_t rip = vcpu__rip(vcpu);

	vm__set_error(vcpu->vm, "vCPU %u: %s (KVM exit %u, detail %#llx) at rip %#llx",
		      vcpu->index, what, reason, (unsigned long long)detail,
		      (unsigned long long)rip);
	vm__terminate(vcpu->vm, JOEY_EVENT_FAULT, (int32_t)reason, detail, rip);
}

static void vcpu__io(struct vcpu *vcpu, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (rep outsb…) arrives as count items of size bytes. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!bus__dispatch(vcpu->vm, &vcpu->vm->pio, run->io.port, data, run->io.size, out) &&
		    !out)
			memset(data, 0xff, run->io.size);
	}
}

/* Returns false when the vCPU must leave its loop. */
static bool vcpu__handle_exit(struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu__io(vcpu, run);
		return true;
	case KVM_EXIT_MMIO:
		if (!bus__dispatch(vcpu->vm, &vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
				   run->mmio.len, run->mmio.is_write) &&
		    !run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT: /* in-kernel LAPIC handles HLT; a stray one is harmless */
		return true;
	case KVM_EXIT_SHUTDOWN:
		vm__set_error(vcpu->vm, "vCPU %u: triple fault, guest reset", vcpu->index);
		vm__terminate(vcpu->vm, JOEY_EVENT_RESET, 1, 0, vcpu__rip(vcpu));
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm__terminate(vcpu->vm, JOEY_EVENT_RESET, 2, 0, 0);
		else
			vm__terminate(vcpu->vm, JOEY_EVENT_SHUTDOWN, 0, 0, 0);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu__fault(vcpu, run->exit_reason, run->internal.suberror,
			    internal_error_name(run->internal.suberror));
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu__fault(vcpu, run->exit_reason, run->fail_entry.hardware_entry_failure_reason,
			    "VM entry failed");
		return false;
	default:
		vcpu__fault(vcpu, run->exit_reason, 0, "unhandled KVM exit");
		return false;
	}
}

/* Parks while a pause is requested; returns false once a stop is. */
static bool vcpu__checkpoint(struct vm *vm)
{
	bool go;

	pthread_mutex_lock(&vm->lock);
	while (vm->pause_requested && !vm->stop_requested) {
		vm->parked++;
		pthread_cond_broadcast(&vm->cond);
		pthread_cond_wait(&vm->cond, &vm->lock);
		vm->parked--;
	}
	go = !vm->stop_requested;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static void *vcpu__thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	struct kvm_run *run = vcpu->run;
	sigset_t set;

	char name[16];

	/* Named so that tools (and tests) can tell VMM threads apart. */
	snprintf(name, sizeof(name), "joey-vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/* Confined before it runs guest code; fail closed (docs/security.md). */
	if (seccomp__install(SECCOMP_VCPU)) {
		vm__set_error(vm, "vCPU %u: seccomp filter not installed", vcpu->index);
		vm__terminate(vm, JOEY_EVENT_FAULT, -EPERM, 0, 0);
		goto out;
	}
	while (vcpu__checkpoint(vm)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			vm__set_error(vm, "vCPU %u: KVM_RUN: %s", vcpu->index, strerror(e));
			vm__terminate(vm, JOEY_EVENT_FAULT, -e, 0, 0);
			break;
		}
		if (!vcpu__handle_exit(vcpu, run))
			break;
	}

out:
	pthread_mutex_lock(&vm->lock);
	vm->live--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu__start_all(struct vm *vm)
{
	pthread_attr_t attr;
	sigset_t block, old;
	int rc = 0;

	pthread_once(&kick_once, vcpu__install_kick);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK);
	/* Threads start with SIG_KICK blocked and unblock it themselves, so a
	 * kick can only land on a thread that is ready for it. */
	sigemptyset(&block);
	sigaddset(&block, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		pthread_mutex_lock(&vm->lock);
		vm->live++;
		pthread_mutex_unlock(&vm->lock);
		rc = -pthread_create(&vcpu->thread, &attr, vcpu__thread, vcpu);
		if (rc) {
			pthread_mutex_lock(&vm->lock);
			vm->live--;
			pthread_mutex_unlock(&vm->lock);
			vm__set_error(vm, "starting vCPU %u's thread: %s", i, strerror(-rc));
			break;
		}
		__atomic_store_n(&vcpu->thread_started, true, __ATOMIC_RELEASE);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

void vcpu__kick_all(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		/* A vCPU thread ending the VM may kick while start_all still runs. */
		if (!__atomic_load_n(&vcpu->thread_started, __ATOMIC_ACQUIRE) || !vcpu->run)
			continue;
		__atomic_store_n(&((struct kvm_run *)vcpu->run)->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(vcpu->thread, SIG_KICK);
	}
}

void vcpu__join_all(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (vcpu->thread_started)
			pthread_join(vcpu->thread, NULL);
		vcpu->thread_started = false;
	}
}

void vcpu__destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}
