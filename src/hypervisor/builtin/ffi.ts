/**
 * The FFI boundary of the built-in VMM: every symbol of
 * ffi/vmm/include/joey_vmm.h with its C signature, and the struct layouts.
 * Nothing else in joey calls Deno.dlopen on libjoeyvmm.
 * @module
 */

/** dlopen symbol table (C signatures beside each). */
export const symbols = {
  // int joey_vmm_check(char *err, uint32_t errlen)
  joey_vmm_check: { parameters: ["buffer", "u32"], result: "i32" },
  // const char *joey_vmm_version(void)
  joey_vmm_version: { parameters: [], result: "pointer" },
  // int joey_vmm_device_known(const char *type)
  joey_vmm_device_known: { parameters: ["buffer"], result: "i32" },
  // int joey_vmm_pool(uint32_t count, uint64_t mem_bytes)  (joins the pool thread when stopping)
  joey_vmm_pool: { parameters: ["u32", "u64"], result: "i32", nonblocking: true },
  // uint32_t joey_vmm_pool_ready(void)
  joey_vmm_pool_ready: { parameters: [], result: "u32" },
  // int joey_vm_create(const struct joey_vm_config *cfg, joey_vm **out, char *err, uint32_t errlen)
  joey_vm_create: {
    parameters: ["buffer", "buffer", "buffer", "u32"],
    result: "i32",
    nonblocking: true,
  },
  // int joey_vm_add_device(joey_vm *vm, const char *type, const char *spec)
  joey_vm_add_device: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int joey_vm_start(joey_vm *vm)  (boot structures, vCPU registers, thread creation:
  // off the JavaScript thread so many VMs start concurrently, issue 9)
  joey_vm_start: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // int joey_vm_pause(joey_vm *vm)  (waits for every vCPU to park)
  joey_vm_pause: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // int joey_vm_resume(joey_vm *vm)
  joey_vm_resume: { parameters: ["pointer"], result: "i32" },
  // int joey_vm_stop(joey_vm *vm)  (joins the vCPU threads)
  joey_vm_stop: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // void joey_vm_destroy(joey_vm *vm)
  joey_vm_destroy: { parameters: ["pointer"], result: "void", nonblocking: true },
  // int joey_vm_state(joey_vm *vm)
  joey_vm_state: { parameters: ["pointer"], result: "i32" },
  // uint64_t joey_vm_id(joey_vm *vm)
  joey_vm_id: { parameters: ["pointer"], result: "u64" },
  // int joey_vm_console_read(joey_vm *vm, uint8_t *buf, uint32_t len)
  joey_vm_console_read: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // int joey_vm_console_write(joey_vm *vm, const uint8_t *buf, uint32_t len)
  joey_vm_console_write: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // int joey_vm_last_error(joey_vm *vm, char *buf, uint32_t len)
  joey_vm_last_error: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // int joey_vm_read_mem(joey_vm *vm, uint64_t gpa, void *buf, uint64_t len)
  joey_vm_read_mem: { parameters: ["pointer", "u64", "buffer", "u64"], result: "i32" },
  // int64_t joey_vm_guest_resident(joey_vm *vm)
  joey_vm_guest_resident: { parameters: ["pointer"], result: "i64" },
  // int joey_vhost_vsock_start(const char *socket_path, const char *uds, uint64_t guest_cid,
  //                            joey_vhost_vsock **out, char *err, uint32_t errlen)
  joey_vhost_vsock_start: {
    parameters: ["buffer", "buffer", "u64", "buffer", "buffer", "u32"],
    result: "i32",
  },
  // int joey_vhost_vsock_running(joey_vhost_vsock *s)
  joey_vhost_vsock_running: { parameters: ["pointer"], result: "i32" },
  // int joey_vhost_vsock_stop(joey_vhost_vsock *s, char *err, uint32_t errlen)  (joins the thread)
  joey_vhost_vsock_stop: {
    parameters: ["pointer", "buffer", "u32"],
    result: "i32",
    nonblocking: true,
  },
  // int joey_event_next(struct joey_event *ev)  (never blocks)
  joey_event_next: { parameters: ["buffer"], result: "i32" },
  // int joey_event_wait(int32_t timeout_ms)
  joey_event_wait: { parameters: ["i32"], result: "i32", nonblocking: true },
  // void joey_event_interrupt(void)
  joey_event_interrupt: { parameters: [], result: "void" },
} as const;

/** The loaded library's functions. */
export type VmmSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Bytes of last-error text, NUL included (JOEY_ERR_MAX). */
export const ERR_MAX = 512;

/** struct joey_vm_config: 48 bytes. */
export const CONFIG_SIZE = 48;
/** Field offsets of struct joey_vm_config. */
export const CONFIG = {
  vcpus: 0,
  flags: 4,
  memBytes: 8,
  kernel: 16,
  initrd: 24,
  cmdline: 32,
  consoleFd: 40,
  consoleRing: 44,
} as const;

/** JOEY_VM_F_* flags of struct joey_vm_config. */
export const VM_FLAGS = { hugepages: 1 << 0, noPit: 1 << 1 } as const;

/** struct joey_event: 32 bytes. */
export const EVENT_SIZE = 32;
/** Field offsets of struct joey_event. */
export const EVENT = { vmId: 0, type: 8, code: 12, arg0: 16, arg1: 24 } as const;

/** enum joey_event_type. */
export const EventType = {
  started: 1,
  shutdown: 2,
  reset: 3,
  fault: 4,
  console: 5,
  deviceError: 6,
  stopped: 7,
} as const;

/** enum joey_vm_state, by value. */
export const VM_STATES = ["created", "running", "paused", "stopped"] as const;
