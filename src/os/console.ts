/**
 * The OCI runtime's console socket: a unix socket the runtime connects to
 * with --console-socket to hand over the pty master by SCM_RIGHTS.
 * @module
 */
import { check, cstr, Errno, os } from "./ffi.ts";
import { CancelledError, type Canceller, RawFd } from "./fd.ts";

/** A listening console socket at a path. */
export class ConsoleSocket {
  readonly path: string;
  #listen: RawFd;
  private constructor(path: string, fd: RawFd) {
    this.path = path;
    this.#listen = fd;
  }
  /** Binds and listens at path (short: sockaddr_un holds 107 bytes). */
  static listen(path: string): ConsoleSocket {
    const fd = check(os().joey_os__console_listen(cstr(path)), `console socket "${path}"`);
    return new ConsoleSocket(path, new RawFd(fd));
  }
  /** Waits for the runtime's connection and returns the pty master it sent. */
  async receive(cancel: Canceller): Promise<RawFd> {
    const rc = await os().joey_os__console_recv(this.#listen.fd, cancel.fd);
    if (rc === -Errno.ECANCELED) throw new CancelledError();
    return new RawFd(check(rc, `receiving the pty master on "${this.path}"`));
  }
  /** Closes the socket and removes its path. */
  async close(): Promise<void> {
    this.#listen.close();
    await Deno.remove(this.path).catch(() => {});
  }
}

/** Sets a terminal's window size (TIOCSWINSZ). */
export function resizePty(pty: RawFd, width: number, height: number): void {
  check(os().joey_os__pty_resize(pty.fd, height, width), "TIOCSWINSZ");
}
