/**
 * joey's vsock device as a vhost-user back end inside this process (a
 * library thread, ffi/vmm joey_vhost_vsock_*): an external QEMU with
 * `-chardev socket,id=vs,path=<socket> -device vhost-user-vsock-device,chardev=vs`
 * (memfd-backed, shared guest RAM) gets the same hybrid vsock as a built-in
 * VM, served on `uds`. One back end serves one QEMU, once.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import { ERR_MAX } from "./ffi.ts";
import { cString, toCString, unwrap } from "./errors.ts";
import { vmm } from "./library.ts";

/** Where the back end listens and what the guest is. */
export interface VhostVsockOptions {
  /** The vhost-user socket QEMU connects to (a stale file is replaced). */
  socket: string;
  /** The hybrid vsock socket (`CONNECT <port>\n`; `<uds>_<port>` for guest dials). */
  uds: string;
  /** The guest's CID (default 3). */
  cid?: number;
  /** `[hypervisor.builtin] vmm_library`. */
  library?: string;
}

/** A running in-process vhost-user vsock back end. */
export class VhostVsockBackend {
  readonly socket: string;
  readonly uds: string;
  #ptr: Deno.PointerObject | null;

  private constructor(ptr: Deno.PointerObject, options: VhostVsockOptions) {
    this.#ptr = ptr;
    this.socket = options.socket;
    this.uds = options.uds;
  }

  /** Starts the back end; both sockets listen when this returns. */
  static start(options: VhostVsockOptions): VhostVsockBackend {
    const lib = vmm(options.library ?? "");
    const cid = options.cid ?? 3;
    if (!Number.isInteger(cid) || cid < 3 || cid >= 0xffffffff) {
      throw new JoeyError("InvalidArgument", `vhost-user vsock: guest cid ${cid} (3..2^32-2)`);
    }
    const out = new BigUint64Array(1);
    const err = new Uint8Array(ERR_MAX);
    const rc = lib.joey_vhost_vsock_start(
      toCString(options.socket),
      toCString(options.uds),
      BigInt(cid),
      out,
      err,
      err.length,
    );
    unwrap(rc, `vhost-user vsock back end on '${options.socket}'`, () => cString(err));
    const ptr = Deno.UnsafePointer.create(out[0]!);
    if (!ptr) throw new JoeyError("Internal", "joey_vhost_vsock_start returned no server");
    return new VhostVsockBackend(ptr, options);
  }

  /** True while it serves: waiting for QEMU, or attached; false once QEMU left. */
  running(): boolean {
    return this.#ptr !== null && vmm().joey_vhost_vsock_running(this.#ptr) === 1;
  }

  /**
   * Ends it (if still serving), joins its thread and removes both sockets.
   * Rejects when the server failed (e.g. the guest broke its rings). Safe
   * to call twice.
   */
  async stop(): Promise<void> {
    const ptr = this.#ptr;
    if (!ptr) return;
    this.#ptr = null;
    const err = new Uint8Array(ERR_MAX);
    const rc = await vmm().joey_vhost_vsock_stop(ptr, err, err.length);
    unwrap(rc, `vhost-user vsock back end on '${this.socket}'`, () => cString(err));
  }
}
