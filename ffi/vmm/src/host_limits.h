/* host_limits.h (not limits.h: that would shadow <limits.h> for every file
 * built with -Iffi/vmm/src). Host limits a VM counts against (issue 9,
 * density): open files, threads and pids, address space and committable memory. joey_vm_create checks
 * them before it asks KVM for anything, so a host limit gives an error that
 * names the limit and the numbers instead of a failure deep inside an ioctl
 * (or a crash of the runtime that hosts thousands of VMs). */
#ifndef JOEY_HOST_LIMITS_H
#define JOEY_HOST_LIMITS_H

#include <stdint.h>

struct vm;

/* What one VM of this shape costs the host: fds of the library (VM, guest
 * RAM, one per vCPU), threads of this process (one per vCPU), kernel
 * threads KVM starts per VM (kvm-pit, kvm-nx-lpage-recovery) which count
 * against threads-max, pid_max and the cgroup's pids.max too, and memory
 * mappings (RAM, per vCPU its kvm_run page and thread stack with guard). */
#define LIMITS_FDS_PER_VM 2u
#define LIMITS_FDS_PER_VCPU 1u
#define LIMITS_KTHREADS_PER_VM 2u /* 1 with JOEY_VM_F_NO_PIT */
/* Of those, kvm-nx-lpage-recovery runs as a thread of this process (a
 * vhost_task on Linux 6.13+: /proc/self/task lists it), so it also counts
 * against RLIMIT_NPROC; kvm-pit is a kernel thread of kthreadd. */
#define LIMITS_OWN_KTHREADS_PER_VM 1u
#define LIMITS_MAPS_PER_VM 1u
#define LIMITS_MAPS_PER_VCPU 3u
/* Kept free for the rest of the process (the runtime's sockets, files). */
#define LIMITS_FD_RESERVE 32u
#define LIMITS_THREAD_RESERVE 16u

/* Returns 0 when a VM of nr_vcpus and mem_bytes fits every limit; else a
 * negative errno (-EMFILE, -EAGAIN, -ENOMEM) with the limit, its value, the
 * current use and how to raise it in the VM's error text. */
int limits__check_vm(struct vm *vm, unsigned int nr_vcpus, uint64_t mem_bytes)
	__attribute__((warn_unused_result));

/* After a resource failure the pre-check could not foresee (another thread
 * took the last fd meanwhile), rewrites the VM's error as one naming the
 * limit: rc -EMFILE/-ENFILE (files) or -EAGAIN (threads). `what` says which
 * step failed. Other codes leave the error as it is. */
void limits__explain(struct vm *vm, int rc, const char *what);

#endif
