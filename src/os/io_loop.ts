/**
 * The shim's stream copying and eventfd watching, done by the C I/O loop
 * (ffi/os io_loop.c) on one thread of its own. Deno keeps only a few worker
 * threads for blocking calls, so parking one per stream would stall the
 * shim after a handful of containers; here one pending call reports
 * everything, and only while something is active.
 * @module
 */
import { check, os } from "./ffi.ts";
import type { RawFd } from "./fd.ts";

/** How a copy ended: 0 at end of input, a negative errno otherwise (-125 = cancelled). */
export type CopyStatus = number;

interface Entry {
  onEvent?: (count: number) => void;
  resolve: (status: CopyStatus) => void;
}

class IoLoop {
  #handle: Deno.PointerValue = null;
  #entries = new Map<number, Entry>();
  #pumping = false;

  #loop(): Deno.PointerValue {
    if (this.#handle === null) {
      const out = new BigUint64Array(1);
      check(os().joey_io__new(out), "I/O loop");
      this.#handle = Deno.UnsafePointer.create(out[0]!);
    }
    return this.#handle;
  }

  #add(id: number, entry: Entry): void {
    this.#entries.set(id, entry);
    if (!this.#pumping) this.#pump();
  }

  /**
   * Copies src to dst until src ends, fails or is cancelled; both must be
   * non-blocking. The loop works on its own duplicates of both fds, so the
   * caller may close its own at once (and should, for EOF to reach dst's
   * reader when the copy ends).
   */
  copy(src: RawFd, dst: RawFd): { id: number; done: Promise<CopyStatus> } {
    const id = check(os().joey_io__copy(this.#loop(), src.fd, dst.fd), "I/O copy");
    const done = new Promise<CopyStatus>((resolve) => this.#add(id, { resolve }));
    return { id, done };
  }

  /** Calls onEvent with the eventfd's count each time it fires, until cancelled. */
  watch(efd: RawFd, onEvent: (count: number) => void): { id: number; done: Promise<CopyStatus> } {
    const id = check(os().joey_io__watch(this.#loop(), efd.fd), "eventfd watch");
    const done = new Promise<CopyStatus>((resolve) => this.#add(id, { resolve, onEvent }));
    return { id, done };
  }

  /** Ends a copy or watch; its done promise then resolves with -ECANCELED. */
  cancel(id: number): void {
    if (this.#entries.has(id)) check(os().joey_io__cancel(this.#loop(), id), "I/O cancel");
  }

  /** How many copies and watches are active. */
  get active(): number {
    return this.#entries.size;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    const out = new Int32Array(64);
    try {
      while (this.#entries.size > 0) {
        const n = check(await os().joey_io__next(this.#handle, out, 32), "I/O loop wait");
        for (let i = 0; i < n; i++) {
          const id = out[2 * i]!, status = out[2 * i + 1]!;
          const entry = this.#entries.get(id);
          if (!entry) continue;
          // A watch reports counts (> 0) and stays; everything else is final.
          if (entry.onEvent && status > 0) {
            entry.onEvent(status);
            continue;
          }
          this.#entries.delete(id);
          entry.resolve(status);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }
}

let instance: IoLoop | undefined;

/** The process-wide I/O loop. */
export function ioLoop(): IoLoop {
  instance ??= new IoLoop();
  return instance;
}
