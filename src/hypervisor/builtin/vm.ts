/**
 * One VM of the built-in VMM: a #private handle to the C object, its
 * console text and its end, fed by the shared event pump.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import type { VmExit } from "../mod.ts";
import { CONFIG, CONFIG_SIZE, ERR_MAX, EventType, VM_FLAGS, VM_STATES } from "./ffi.ts";
import { cString, toCString, unwrap } from "./errors.ts";
import { vmm } from "./library.ts";
import { pump, type VmmEvent } from "./pump.ts";

/** What a VM is created from. */
export interface BuiltinVmOptions {
  vcpus: number;
  memoryMiB: number;
  /** bzImage or ELF (vmlinux or test guest). */
  kernel: string;
  initrd?: string | null;
  cmdline?: string;
  /** Console bytes kept by the library between reads (default 64 KiB). */
  consoleRingBytes?: number;
  /** Console text kept here, newest last (default 1 MiB). */
  consoleKeepBytes?: number;
  /** `[hypervisor.builtin] vmm_library`. */
  library?: string;
  /**
   * No in-kernel PIT (JOEY_VM_F_NO_PIT), for guests that never program it:
   * one kernel thread fewer per VM and a faster destroy (docs/density.md).
   */
  noPit?: boolean;
}

/** The states joey_vm_state reports. */
export type VmState = (typeof VM_STATES)[number];

const END_REASONS: Record<number, VmExit["reason"]> = {
  [EventType.shutdown]: "shutdown",
  [EventType.reset]: "reset",
  [EventType.fault]: "fault",
  [EventType.stopped]: "stopped",
};

/** A VM in this process. */
export class BuiltinVm {
  /** The library's VM id (events carry it). */
  readonly id: bigint;
  #ptr: Deno.PointerObject | null;
  #console = "";
  #keep: number;
  #decoder = new TextDecoder();
  #watchers = new Set<() => void>();
  #started = Promise.withResolvers<void>();
  #ended = Promise.withResolvers<VmExit>();
  #exit: VmExit | null = null;
  #deviceErrors: string[] = [];
  /** A joey_vm_start in flight on another thread: stop, pause and destroy wait for it. */
  #starting: Promise<void> | null = null;

  private constructor(ptr: Deno.PointerObject, keep: number) {
    this.#ptr = ptr;
    this.#keep = keep;
    this.id = vmm().joey_vm_id(ptr);
    // Nobody may await these; a rejected start must not surface unhandled.
    this.#started.promise.catch(() => {});
    pump.register(this.id, (event) => this.#onEvent(event));
  }

  /** Creates a VM and loads its kernel (and initrd). */
  static async create(options: BuiltinVmOptions): Promise<BuiltinVm> {
    const lib = vmm(options.library ?? "");
    const kernel = toCString(options.kernel);
    const initrd = toCString(options.initrd ?? "");
    const cmdline = toCString(options.cmdline ?? "");
    const cfg = new Uint8Array(CONFIG_SIZE);
    const view = new DataView(cfg.buffer);
    const addr = (b: Uint8Array<ArrayBuffer>) =>
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
    view.setUint32(CONFIG.vcpus, options.vcpus, true);
    view.setUint32(CONFIG.flags, options.noPit ? VM_FLAGS.noPit : 0, true);
    view.setBigUint64(CONFIG.memBytes, BigInt(options.memoryMiB) << 20n, true);
    view.setBigUint64(CONFIG.kernel, addr(kernel), true);
    view.setBigUint64(CONFIG.initrd, addr(initrd), true);
    view.setBigUint64(CONFIG.cmdline, addr(cmdline), true);
    view.setInt32(CONFIG.consoleFd, -1, true);
    view.setUint32(CONFIG.consoleRing, options.consoleRingBytes ?? 0, true);
    const out = new BigUint64Array(1);
    const err = new Uint8Array(ERR_MAX);
    // kernel, initrd and cmdline stay referenced until the call returns.
    const rc = await lib.joey_vm_create(cfg, out, err, err.length);
    unwrap(rc, `creating VM from '${options.kernel}'`, () => cString(err));
    void [kernel, initrd, cmdline];
    const ptr = Deno.UnsafePointer.create(out[0]!);
    if (!ptr) throw new JoeyError("Internal", "joey_vm_create returned no VM");
    return new BuiltinVm(ptr, options.consoleKeepBytes ?? 1 << 20);
  }

  #handle(): Deno.PointerObject {
    if (!this.#ptr) throw new JoeyError("FailedPrecondition", `VM ${this.id} was destroyed`);
    return this.#ptr;
  }

  /** The library's last-error text for this VM. */
  lastError(): string {
    const buf = new Uint8Array(ERR_MAX);
    vmm().joey_vm_last_error(this.#handle(), buf, buf.length);
    return cString(buf);
  }

  #check(rc: number, what: string): number {
    return unwrap(rc, `VM ${this.id}: ${what}`, () => this.lastError());
  }

  /** Adds a device model by type with its spec text (before start). */
  async addDevice(type: string, spec: string): Promise<void> {
    const t = toCString(type);
    const s = toCString(spec);
    const rc = await vmm().joey_vm_add_device(this.#handle(), t, s);
    this.#check(rc, `adding device '${type}'`);
  }

  /**
   * Starts the vCPUs off the JavaScript thread (a nonblocking FFI call, so
   * many VMs start concurrently); the STARTED event resolves `started`.
   * Rejects with the library's reason when the VM cannot start.
   */
  start(): Promise<void> {
    const ptr = this.#handle();
    const starting = vmm().joey_vm_start(ptr).then((rc) => {
      this.#check(rc, "start");
    });
    this.#starting = starting.catch(() => {});
    return starting;
  }

  /** Waits for a start in flight (its failure is the start caller's to see). */
  async #settled(): Promise<void> {
    if (this.#starting) await this.#starting;
  }

  /** Resolves on the STARTED event; rejects if the VM ended first. */
  get started(): Promise<void> {
    return this.#started.promise;
  }

  /** Parks every vCPU (resolves once they are out of the guest). */
  async pause(): Promise<void> {
    await this.#settled();
    this.#check(await vmm().joey_vm_pause(this.#handle()), "pause");
  }

  resume(): void {
    this.#check(vmm().joey_vm_resume(this.#handle()), "resume");
  }

  /** Stops the vCPUs and joins their threads. */
  async stop(): Promise<void> {
    await this.#settled();
    this.#check(await vmm().joey_vm_stop(this.#handle()), "stop");
    pump.drain();
  }

  /** Frees everything; the VM is unusable afterwards. Safe to call twice. */
  async destroy(): Promise<void> {
    await this.#settled();
    const ptr = this.#ptr;
    if (!ptr) return;
    this.#ptr = null;
    pump.drain();
    pump.unregister(this.id);
    await vmm().joey_vm_destroy(ptr);
    this.#finish({ reason: "stopped", code: 0, message: "destroyed" });
    this.#wake();
    await pump.idle();
  }

  /** "created", "running", "paused" or "stopped". */
  state(): VmState {
    const s = this.#check(vmm().joey_vm_state(this.#handle()), "state");
    return VM_STATES[s] ?? "stopped";
  }

  /** Console output so far (the newest consoleKeepBytes). */
  console(): string {
    return this.#console;
  }

  /** Device failures the library reported, oldest first. */
  deviceErrors(): string[] {
    return [...this.#deviceErrors];
  }

  /** Queues bytes for the guest's UART; returns how many were taken. */
  consoleWrite(data: Uint8Array<ArrayBuffer>): number {
    return this.#check(
      vmm().joey_vm_console_write(this.#handle(), data, data.length),
      "console write",
    );
  }

  /** Reads guest-physical memory. */
  readMemory(gpa: bigint, length: number): Uint8Array<ArrayBuffer> {
    const buf = new Uint8Array(length);
    this.#check(vmm().joey_vm_read_mem(this.#handle(), gpa, buf, BigInt(length)), "read memory");
    return buf;
  }

  /** Bytes of guest RAM the guest has touched. */
  guestResidentBytes(): number {
    return Number(vmm().joey_vm_guest_resident(this.#handle()));
  }

  /** Resolves when the VM ends (guest exit, reset, fault, stop or destroy). */
  wait(): Promise<VmExit> {
    return this.#ended.promise;
  }

  /**
   * Resolves with the console text once it contains `needle`; rejects on
   * timeout or when the VM ends first.
   */
  waitForOutput(needle: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#console.includes(needle)) {
          done();
          resolve(this.#console);
        } else if (this.#exit) {
          done();
          reject(
            new JoeyError(
              "FailedPrecondition",
              `VM ${this.id} ended (${this.#exit.reason}) before printing '${needle}'`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new JoeyError("DeadlineExceeded", `VM ${this.id}: no '${needle}' within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(check);
      };
      this.#watchers.add(check);
      check();
    });
  }

  #wake(): void {
    for (const w of [...this.#watchers]) w();
  }

  #readConsole(): void {
    if (!this.#ptr) return;
    const buf = new Uint8Array(16384);
    for (;;) {
      const n = vmm().joey_vm_console_read(this.#ptr, buf, buf.length);
      if (n <= 0) break;
      this.#console += this.#decoder.decode(buf.subarray(0, n), { stream: true });
    }
    if (this.#console.length > this.#keep) this.#console = this.#console.slice(-this.#keep);
  }

  #finish(exit: VmExit): void {
    if (this.#exit) return;
    this.#exit = exit;
    this.#started.reject(
      new JoeyError("FailedPrecondition", `VM ${this.id} ended (${exit.reason}) before starting`),
    );
    this.#ended.resolve(exit);
  }

  #onEvent(event: VmmEvent): void {
    switch (event.type) {
      case EventType.started:
        this.#started.resolve();
        break;
      case EventType.console:
        this.#readConsole();
        break;
      case EventType.deviceError:
        if (this.#ptr) this.#deviceErrors.push(this.lastError());
        break;
      default: {
        const reason = END_REASONS[event.type];
        if (!reason) break;
        this.#readConsole();
        const message = reason === "shutdown" || reason === "stopped" || !this.#ptr
          ? ""
          : this.lastError();
        this.#finish({ reason, code: event.code, message });
      }
    }
    this.#wake();
  }
}
