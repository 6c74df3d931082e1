/**
 * Raw file descriptors Deno cannot wrap (pty masters, pipe ends handed to
 * children, FIFOs opened without blocking), with reads and writes that a
 * Canceller can always interrupt.
 * @module
 */
import { check, cstr, Errno, os, OsError } from "./ffi.ts";

/** open(2) flags used here (x86-64/aarch64 values). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
} as const;

/**
 * An eventfd that, once cancelled, makes every pending and future read or
 * write passed to it return "cancelled".
 */
export class Canceller {
  #fd: number;
  #cancelled = false;
  constructor() {
    this.#fd = check(os().joey_os__eventfd(), "eventfd");
  }
  /** The eventfd, for the C calls. */
  get fd(): number {
    if (this.#fd < 0) throw new Error("Canceller used after close");
    return this.#fd;
  }
  /** Whether cancel() was called. */
  get cancelled(): boolean {
    return this.#cancelled;
  }
  /** Wakes every call waiting on this canceller. */
  cancel(): void {
    if (this.#cancelled || this.#fd < 0) return;
    this.#cancelled = true;
    check(os().joey_os__eventfd_signal(this.#fd), "eventfd signal");
  }
  /** Closes the eventfd; only once no call is waiting on it. */
  close(): void {
    if (this.#fd >= 0) os().joey_os__close(this.#fd);
    this.#fd = -1;
  }
}

/** Thrown by RawFd reads and writes that were cancelled. */
export class CancelledError extends Error {
  constructor() {
    super("Cancelled");
    this.name = "CancelledError";
  }
}

/** An owned file descriptor (close it exactly once). */
export class RawFd {
  #fd: number;
  constructor(fd: number) {
    this.#fd = fd;
  }
  /** The descriptor number (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }
  /** Opens path with O_CLOEXEC plus flags. */
  static open(path: string, flags: number, mode = 0o600): RawFd {
    return new RawFd(check(os().joey_os__open(cstr(path), flags, mode), `open "${path}"`));
  }
  /** A pipe: [read end, write end], both close-on-exec and blocking. */
  static pipe(): [RawFd, RawFd] {
    const fds = new Int32Array(2);
    check(os().joey_os__pipe(fds), "pipe");
    return [new RawFd(fds[0]!), new RawFd(fds[1]!)];
  }
  /** Sets O_NONBLOCK (for the shim's own pipe ends; children get blocking ones). */
  setNonblocking(): this {
    check(os().joey_os__set_nonblock(this.#fd), "fcntl(O_NONBLOCK)");
    return this;
  }
  /**
   * Reads up to buf.length bytes; 0 means end of file. A pty master whose
   * terminal was closed by every process reports EIO, which is its EOF.
   */
  async read(buf: Uint8Array<ArrayBuffer>, cancel: Canceller): Promise<number> {
    const rc = await os().joey_os__read(this.#fd, cancel.fd, buf, BigInt(buf.length));
    if (rc === -Errno.ECANCELED) throw new CancelledError();
    if (rc === -Errno.EIO) return 0;
    return check(rc, "read");
  }
  /** Writes all of data. */
  async write(data: Uint8Array<ArrayBuffer>, cancel: Canceller): Promise<void> {
    const rc = await os().joey_os__write(this.#fd, cancel.fd, data, BigInt(data.length));
    if (rc === -Errno.ECANCELED) throw new CancelledError();
    check(rc, "write");
    if (rc < data.length) throw new OsError(Errno.EPIPE, "short write");
  }
  /** Closes the descriptor (again is a no-op). */
  close(): void {
    if (this.#fd >= 0) os().joey_os__close(this.#fd);
    this.#fd = -1;
  }
}
