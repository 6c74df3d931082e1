/**
 * The FFI boundary to build/os/libjoeyos.so (ffi/os): every symbol declared
 * once with its C signature, one loader, and one helper that turns the
 * library's negative-errno returns into errors. Calls that can block are
 * `nonblocking: true` (they run on a worker thread and return a Promise).
 * @module
 */

const symbols = {
  /** int joey_os__set_subreaper(void) */
  joey_os__set_subreaper: { parameters: [], result: "i32" },
  /** int joey_os__kill(int pid, int sig) */
  joey_os__kill: { parameters: ["i32", "i32"], result: "i32" },
  /** int joey_os__close(int fd) */
  joey_os__close: { parameters: ["i32"], result: "i32" },
  /** int joey_os__eventfd(void) */
  joey_os__eventfd: { parameters: [], result: "i32" },
  /** int joey_os__eventfd_signal(int efd) */
  joey_os__eventfd_signal: { parameters: ["i32"], result: "i32" },
  /** int joey_os__pipe(int32_t *fds) */
  joey_os__pipe: { parameters: ["buffer"], result: "i32" },
  /** int joey_os__set_nonblock(int fd) */
  joey_os__set_nonblock: { parameters: ["i32"], result: "i32" },
  /** int joey_os__open(const char *path, int flags, int mode) */
  joey_os__open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** int joey_os__read(int fd, int cancel_fd, uint8_t *buf, size_t len) — blocks */
  joey_os__read: {
    parameters: ["i32", "i32", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
  /** int joey_os__write(int fd, int cancel_fd, const uint8_t *buf, size_t len) — blocks */
  joey_os__write: {
    parameters: ["i32", "i32", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
  /** int joey_os__spawn(const char *argv, const char *envp, int fd_in, int fd_out, int fd_err) */
  joey_os__spawn: { parameters: ["buffer", "buffer", "i32", "i32", "i32"], result: "i32" },
  /** int joey_reaper__new(struct joey_reaper **out) */
  joey_reaper__new: { parameters: ["buffer"], result: "i32" },
  /** int joey_reaper__watch(struct joey_reaper *r, int pid) */
  joey_reaper__watch: { parameters: ["pointer", "i32"], result: "i32" },
  /** int joey_reaper__wait(struct joey_reaper *r, int32_t *out, int max) — blocks */
  joey_reaper__wait: { parameters: ["pointer", "buffer", "i32"], result: "i32", nonblocking: true },
  /** int joey_reaper__wake(struct joey_reaper *r) */
  joey_reaper__wake: { parameters: ["pointer"], result: "i32" },
  /** void joey_reaper__free(struct joey_reaper *r) */
  joey_reaper__free: { parameters: ["pointer"], result: "void" },
  /** int joey_io__new(struct joey_io **out) */
  joey_io__new: { parameters: ["buffer"], result: "i32" },
  /** int joey_io__copy(struct joey_io *io, int src, int dst) */
  joey_io__copy: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  /** int joey_io__watch(struct joey_io *io, int efd) */
  joey_io__watch: { parameters: ["pointer", "i32"], result: "i32" },
  /** int joey_io__cancel(struct joey_io *io, int id) */
  joey_io__cancel: { parameters: ["pointer", "i32"], result: "i32" },
  /** int joey_io__next(struct joey_io *io, int32_t *out, int max) — blocks */
  joey_io__next: { parameters: ["pointer", "buffer", "i32"], result: "i32", nonblocking: true },
  /** int joey_io__wake(struct joey_io *io) */
  joey_io__wake: { parameters: ["pointer"], result: "i32" },
  /** void joey_io__free(struct joey_io *io) */
  joey_io__free: { parameters: ["pointer"], result: "void" },
  /** int joey_os__console_listen(const char *path) */
  joey_os__console_listen: { parameters: ["buffer"], result: "i32" },
  /** int joey_os__console_recv(int listen_fd, int cancel_fd) — blocks */
  joey_os__console_recv: { parameters: ["i32", "i32"], result: "i32", nonblocking: true },
  /** int joey_os__pty_resize(int fd, int rows, int cols) */
  joey_os__pty_resize: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int joey_os__mount(const char *source, const char *target, const char *fstype, uint64_t flags, const char *data) */
  joey_os__mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
  },
  /** int joey_os__umount(const char *target, int flags) */
  joey_os__umount: { parameters: ["buffer", "i32"], result: "i32" },
  /** int joey_os__oom_eventfd_v1(const char *memory_cgroup_dir) */
  joey_os__oom_eventfd_v1: { parameters: ["buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The library's symbols, typed. */
export type OsSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Where the library is: $JOEY_OS_LIB, else the build output of this checkout. */
export function libraryPath(): string {
  return Deno.env.get("JOEY_OS_LIB") ??
    // Not node:url: its first import costs 5–9 ms in every shim daemon.
    decodeURIComponent(new URL("../../build/os/libjoeyos.so", import.meta.url).pathname);
}

// One handle per isolate, never closed. Other isolates (each `deno test`
// module has its own) close theirs when they end, so the library is linked
// -z nodelete: its I/O loop thread keeps running code from it.
let library: Deno.DynamicLibrary<typeof symbols> | undefined;
let lib: OsSymbols | undefined;

/** Opens the library once (the handle lives as long as the process). */
export function os(): OsSymbols {
  if (!lib) {
    try {
      library = Deno.dlopen(libraryPath(), symbols);
      lib = library.symbols;
    } catch (err) {
      throw new Error(
        `Cannot load the OS helper library "${libraryPath()}" (run \`make build\`)`,
        { cause: err },
      );
    }
  }
  return lib;
}

/** errno values this code looks at by name. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  EBUSY: 16,
  EINVAL: 22,
  EPIPE: 32,
  ENXIO: 6,
  EPROTO: 71,
  ECANCELED: 125,
} as const;

const errnoNames = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

/** A failed system call: errno plus what was being done. */
export class OsError extends Error {
  readonly errno: number;
  constructor(errno: number, what: string) {
    super(`${what}: ${errnoNames.get(errno) ?? "errno"} (${errno})`);
    this.name = "OsError";
    this.errno = errno;
  }
}

/** Returns rc if it is not negative; throws OsError(-rc) naming `what` otherwise. */
export function check(rc: number, what: string): number {
  if (rc < 0) throw new OsError(-rc, what);
  return rc;
}

const encoder = new TextEncoder();

/** A NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s + "\0");
}

/** A NUL-separated list ending in an empty string ("a\0b\0\0"), as joey_os__spawn reads it. */
export function cstrList(items: string[]): Uint8Array<ArrayBuffer> {
  for (const item of items) {
    if (item.includes("\0") || item === "") {
      throw new TypeError(`Invalid list item ${JSON.stringify(item)}`);
    }
  }
  return encoder.encode(items.map((s) => s + "\0").join("") + "\0");
}
