/* The VM object and the core's internal interfaces. Device models never
 * include this; they see device_host.h only. */
#ifndef JOEY_VM_H
#define JOEY_VM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../include/joey_vmm.h"
#include "device_host.h"
#include "guest_mem.h"

#define __must_check __attribute__((warn_unused_result))

/* Guest-physical layout. RAM is [0, min(mem, MMIO_HOLE_START)) and, for the
 * rest, from 4 GiB up. The hole holds virtio-mmio windows and the LAPIC/IOAPIC. */
#define MMIO_HOLE_START 0xc0000000ULL
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_END 0xfe000000ULL
#define HIGH_RAM_START 0x100000000ULL

#define IRQ_GSI_FIRST 5
#define IRQ_GSI_LAST 23

#define MAX_IO_RANGES 64
#define MAX_DEVICES 32

struct vm;

struct io_range {
	uint64_t base, len;
	io_handler_fn fn;
	void *opaque;
};

struct bus {
	unsigned int nr;
	struct io_range ranges[MAX_IO_RANGES];
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	void *run; /* struct kvm_run, mmap'ed */
	size_t run_size;
	pthread_t thread;
	bool thread_started;
};

struct serial;
struct loop;

struct console {
	uint8_t *ring;
	uint32_t size, head, tail; /* head: next write; tail: next read */
	bool notified;             /* a CONSOLE event is outstanding */
	int sink_fd;
};

struct device_slot {
	const struct device_ops *ops;
	void *state;
};

struct vm {
	uint64_t id;
	int kvm_fd; /* the process-wide /dev/kvm fd (kvm__system), not owned */
	int vm_fd;
	int mem_fd;
	uint8_t *ram;
	uint64_t ram_size;
	struct guest_mem gm;

	unsigned int nr_vcpus;
	struct vcpu vcpus[JOEY_VM_MAX_VCPUS];
	const void *cpuid; /* struct kvm_cpuid2 *, the process-wide supported CPUID */

	/* Lifecycle; all under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;            /* enum joey_vm_state */
	bool stop_requested;  /* vCPUs leave their loops */
	bool pause_requested; /* vCPUs park */
	unsigned int parked;  /* vCPUs parked for pause */
	unsigned int live;    /* vCPU threads still in their loop */
	bool terminal_sent;   /* guest-initiated end already reported */

	struct bus mmio, pio;
	pthread_rwlock_t bus_lock;

	uint64_t next_mmio;
	uint32_t next_gsi;

	char *cmdline;     /* malloc'ed; grows with vm__cmdline_append */
	uint8_t *zero_page; /* boot_params staged until start */
	uint64_t entry;
	uint32_t cmdline_max; /* the kernel's limit, without the NUL */
	uint64_t initrd_end;  /* first byte above kernel and initrd */

	struct console console;
	pthread_mutex_t console_lock;
	struct serial *serial;
	struct loop *loop;

	unsigned int nr_devices;
	struct device_slot devices[MAX_DEVICES];

	pthread_mutex_t err_lock;
	char err[JOEY_ERR_MAX];
	bool device_error_queued; /* under err_lock: one DEVICE_ERROR outstanding */

	struct vm *pool_next; /* while waiting in the pool */
	bool no_pit;          /* JOEY_VM_F_NO_PIT: kvm__setup_irqchip skips the PIT */
};

/* vm.c: a VM object, and its KVM VM + RAM ("shell", what the pool pre-builds) */
struct vm *vm__alloc(void);
void vm__free(struct vm *vm);
int vm__setup_shell(struct vm *vm, uint64_t mem_bytes, bool hugepages) __must_check;

/* pool.c: pre-built shells of one RAM size (joey_vmm_pool) */
struct vm *pool__take(uint64_t mem_bytes);

/* error.c */
void vm__set_error(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vm__vset_error(struct vm *vm, const char *fmt, va_list ap);

/* event.c */
void event__post(struct vm *vm, uint32_t type, int32_t code, uint64_t arg0, uint64_t arg1);
void event__drop_vm(uint64_t vm_id);

/* kvm.c */
int kvm__open(char *err, size_t errlen) __must_check;
int kvm__check_caps(int kvm_fd, char *err, size_t errlen) __must_check;
int kvm__require_cap(int kvm_fd, int cap, const char *name, char *err, size_t errlen) __must_check;
int kvm__create_vm(struct vm *vm) __must_check;
/* TSS, in-kernel PIC/IOAPIC/LAPIC and PIT; after the memory slots (see vm.c). */
int kvm__setup_irqchip(struct vm *vm) __must_check;
/* The process-wide /dev/kvm fd (capabilities checked) and supported CPUID,
 * set into vm->kvm_fd and vm->cpuid; neither is the VM's to close or free. */
int kvm__system(struct vm *vm) __must_check;
/* Drops the VM's use of them (the last user closes the fd). */
void kvm__system_put(struct vm *vm);

/* memory.c */
int memory__setup(struct vm *vm, uint64_t size, bool hugepages) __must_check;
void memory__teardown(struct vm *vm);

/* vcpu.c */
int vcpu__create(struct vm *vm, unsigned int index) __must_check;
int vcpu__setup_boot(struct vcpu *vcpu, uint64_t entry, uint64_t boot_params) __must_check;
int vcpu__start_all(struct vm *vm) __must_check;
void vcpu__kick_all(struct vm *vm);
void vcpu__join_all(struct vm *vm);
void vcpu__destroy(struct vcpu *vcpu);
/* Ends the VM from inside (a vCPU or device thread): reports the event once. */
void vm__terminate(struct vm *vm, uint32_t type, int32_t code, uint64_t arg0, uint64_t arg1);

/* bus.c */
int bus__add(struct bus *bus, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque);
bool bus__dispatch(struct vm *vm, struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write);

/* loader.c: loads the kernel and initrd at create; at start writes the
 * command line, e820 map and zero page and sets the boot vCPU's registers. */
int loader__load(struct vm *vm, const char *kernel, const char *initrd) __must_check;
int loader__finalize(struct vm *vm) __must_check;

/* serial.c, i8042.c, debug_exit.c */
int serial__init(struct vm *vm) __must_check;
void serial__exit(struct vm *vm);
int serial__input(struct vm *vm, const uint8_t *buf, uint32_t len);
int i8042__init(struct vm *vm) __must_check;
int debug_exit__init(struct vm *vm) __must_check;
#define DEBUG_EXIT_PORT 0xf4

/* console.c */
int console__init(struct vm *vm, uint32_t ring, int sink_fd) __must_check;
void console__exit(struct vm *vm);
void console__put(struct vm *vm, const uint8_t *buf, size_t len);

/* loop.c */
void loop__destroy(struct vm *vm);

/* irq.c */
int irq__line(struct vm *vm, uint32_t gsi, bool level);


/* mptable.c: CPUs, IOAPIC and IRQ routing for the guest (MP spec 1.4) */
int mptable__write(struct vm *vm) __must_check;

/* device registry */
void devices__exit_all(struct vm *vm);

#endif
