/* joey VMM: a compact in-process KVM virtual machine monitor.
 *
 * The API is flat and FFI-friendly: plain integers, pointers and buffers, no
 * callbacks. vCPUs run on threads inside the library; the caller learns about
 * every VM's events through ONE pump (joey_event_next / joey_event_wait), so
 * it never parks a thread per VM. Functions return 0 (or a count) on success
 * and a negative errno on failure; the reason is in joey_vm_last_error().
 * The library never exits, aborts or prints to stdout.
 *
 * Lifecycle:   create → [add_device…] → start → (pause ↔ resume)… → stop → destroy
 * A VM whose guest shut down, reset or faulted is STOPPED on its own; destroy
 * works from any state and releases every fd, thread and mapping. */
#ifndef JOEY_VMM_H
#define JOEY_VMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOEY_VMM_API_VERSION 1
#define JOEY_VM_MAX_VCPUS 32
#define JOEY_ERR_MAX 512 /* last-error text, including the NUL */

typedef struct vm joey_vm; /* opaque */

/* Creation parameters. 48 bytes, no implicit padding (FFI callers build it
 * by offset: vcpus@0 flags@4 mem_bytes@8 kernel@16 initrd@24 cmdline@32
 * console_fd@40 console_ring@44). */
struct joey_vm_config {
	uint32_t vcpus;        /* 1..JOEY_VM_MAX_VCPUS */
	uint32_t flags;        /* JOEY_VM_F_* */
	uint64_t mem_bytes;    /* guest RAM, at least 2 MiB, multiple of 4 KiB */
	const char *kernel;    /* bzImage, or an x86-64 ELF (vmlinux or test guest) */
	const char *initrd;    /* NULL or "" for none */
	const char *cmdline;   /* NULL for "" */
	int32_t console_fd;    /* also copy console output to this fd (not owned), or -1 */
	uint32_t console_ring; /* bytes kept for joey_vm_console_read, 0 = 64 KiB */
};

#define JOEY_VM_F_HUGEPAGES (1u << 0) /* back RAM with MFD_HUGETLB (2 MiB pages) */
/* No in-kernel i8254 PIT, for guests that never program it (the test guests;
 * a kernel that uses the LAPIC timer): saves KVM's kvm-pit kernel thread per
 * VM, a pid of the host's budget, and most of destroy's time (docs/density.md).
 * Such VMs are never made from pool shells (those have a PIT). */
#define JOEY_VM_F_NO_PIT (1u << 1)

enum joey_vm_state {
	JOEY_VM_CREATED = 0,
	JOEY_VM_RUNNING = 1,
	JOEY_VM_PAUSED = 2,
	JOEY_VM_STOPPED = 3,
};

enum joey_event_type {
	JOEY_EVENT_NONE = 0,
	JOEY_EVENT_STARTED = 1,      /* vCPUs are running */
	JOEY_EVENT_SHUTDOWN = 2,     /* guest left through the debug-exit port (code = the
				      * value written) or a KVM system-event shutdown (code 0) */
	JOEY_EVENT_RESET = 3,        /* guest reset, VM stopped: code 0 i8042 0xfe, 1 triple
				      * fault, 2 KVM system-event reset */
	JOEY_EVENT_FAULT = 4,        /* vCPU fault / KVM internal error: VM stopped;
				      * code = KVM exit reason, arg0 = suberror or hw reason,
				      * arg1 = guest RIP; text in joey_vm_last_error() */
	JOEY_EVENT_CONSOLE = 5,      /* console output waiting in joey_vm_console_read();
				      * sent again only after the ring was drained */
	JOEY_EVENT_DEVICE_ERROR = 6, /* a device reported a failure; text in last error;
				      * sent again only after joey_vm_last_error() */
	JOEY_EVENT_STOPPED = 7,      /* joey_vm_stop() finished */
};

/* One event, 32 bytes: vm_id@0 type@8 code@12 arg0@16 arg1@24. */
struct joey_event {
	uint64_t vm_id; /* joey_vm_id() of the VM */
	uint32_t type;  /* enum joey_event_type */
	int32_t code;
	uint64_t arg0;
	uint64_t arg1;
};

/* Checks that this host can run VMs (/dev/kvm, API version, capabilities).
 * Returns 0, or -errno with the reason in err. */
int joey_vmm_check(char *err, uint32_t errlen);
const char *joey_vmm_version(void);
/* 1 if joey_vm_add_device() knows the device type, else 0. */
int joey_vmm_device_known(const char *type);

/* Keeps up to count pre-built VM shells (KVM VM with irqchip and PIT, plus
 * guest RAM of mem_bytes) ready, refilled by a background thread, so that
 * joey_vm_create for that RAM size skips the KVM setup. A shell is used once
 * and never recycled (its RAM is fresh). count 0 stops the thread and frees
 * the shells. Returns 0 or -errno. */
int joey_vmm_pool(uint32_t count, uint64_t mem_bytes);
/* Shells ready in the pool now. */
uint32_t joey_vmm_pool_ready(void);

/* Creates a VM and loads its kernel. On failure returns -errno, sets *out to
 * NULL and writes the reason to err (if errlen > 0). */
int joey_vm_create(const struct joey_vm_config *cfg, joey_vm **out, char *err, uint32_t errlen);

/* Adds a device model by type ("vsock", "blk", …) with its spec text; only
 * before start. Devices are torn down at destroy in reverse order. */
int joey_vm_add_device(joey_vm *vm, const char *type, const char *spec);

int joey_vm_start(joey_vm *vm);
/* Returns once every vCPU is out of KVM_RUN and parked. */
int joey_vm_pause(joey_vm *vm);
int joey_vm_resume(joey_vm *vm);
/* Stops the vCPUs and joins their threads (queues JOEY_EVENT_STOPPED). */
int joey_vm_stop(joey_vm *vm);
/* Stops if needed and frees everything; vm is invalid afterwards. Queued
 * events of this VM are dropped. */
void joey_vm_destroy(joey_vm *vm);

int joey_vm_state(joey_vm *vm);
uint64_t joey_vm_id(joey_vm *vm);
/* Copies up to len bytes of console output; returns the count (0 if none). */
int joey_vm_console_read(joey_vm *vm, uint8_t *buf, uint32_t len);
/* Queues bytes for the guest's UART receiver; returns the count taken. */
int joey_vm_console_write(joey_vm *vm, const uint8_t *buf, uint32_t len);
/* Copies the last error text (NUL-terminated, truncated); returns its length. */
int joey_vm_last_error(joey_vm *vm, char *buf, uint32_t len);
/* Reads guest-physical memory (bounds-checked); 0 or -EFAULT. */
int joey_vm_read_mem(joey_vm *vm, uint64_t gpa, void *buf, uint64_t len);

/* Bytes of guest RAM the guest has touched (pages backing the memfd), or
 * -errno. */
int64_t joey_vm_guest_resident(joey_vm *vm);

/* joey's vsock device served as a vhost-user back end on a library thread,
 * for an external QEMU (-device vhost-user-vsock-device with memfd-backed
 * shared RAM): the guest gets the same hybrid vsock as a built-in VM. It
 * listens on socket_path (a stale file is replaced) for one front end; the
 * hybrid socket uds (CONNECT <port>, and <uds>_<port> for guest-initiated
 * streams) exists on return. The thread is confined like a VM's I/O loop
 * (seccomp). Returns 0 with *out set, or -errno with the reason in err. */
typedef struct joey_vhost_vsock joey_vhost_vsock;
int joey_vhost_vsock_start(const char *socket_path, const char *uds, uint64_t guest_cid,
			   joey_vhost_vsock **out, char *err, uint32_t errlen);
/* 1 while it serves (waiting for its front end or attached to it), 0 once
 * the front end went away or the server failed. */
int joey_vhost_vsock_running(joey_vhost_vsock *s);
/* Ends the server if still running, joins its thread, removes both socket
 * files and frees it; s is invalid afterwards. Returns 0, or -errno with the
 * reason in err (-EPROTO: the guest broke its rings). Blocks briefly (FFI:
 * nonblocking). */
int joey_vhost_vsock_stop(joey_vhost_vsock *s, char *err, uint32_t errlen);

/* The pump: copies the next event of any VM into *ev and returns 1, or
 * returns 0 when none is queued. Never blocks. */
int joey_event_next(struct joey_event *ev);
/* Blocks up to timeout_ms (-1 = forever) until an event is queued; returns 1
 * if one is, 0 on timeout. For callers that want to sleep (FFI: nonblocking). */
int joey_event_wait(int32_t timeout_ms);
/* Wakes joey_event_wait() callers; if none is waiting, the next call
 * returns at once (so a wake-up racing with the call is not lost). */
void joey_event_interrupt(void);

#ifdef __cplusplus
}
#endif
#endif
