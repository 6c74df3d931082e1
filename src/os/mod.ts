/**
 * The system calls Deno lacks, over ffi/os (build/os/libjoeyos.so):
 * subreaper and pidfd reaping, spawning with fds, SCM_RIGHTS console
 * sockets, pty resize, mounts and cgroup v1 OOM eventfds.
 * @module
 */
export { check, Errno, libraryPath, OsError } from "./ffi.ts";
export { CancelledError, Canceller, O, RawFd } from "./fd.ts";
export { type CopyStatus, ioLoop } from "./io_loop.ts";
export { kill, setChildSubreaper, spawn, type SpawnStdio } from "./process.ts";
export { type ExitStatus, reaper } from "./reaper.ts";
export { ConsoleSocket, resizePty } from "./console.ts";
export {
  isMountPoint,
  mount,
  mountWithOptions,
  MS,
  parseMountOptions,
  umount,
  umountAll,
} from "./mount.ts";
export { oomEventFdV1 } from "./oom.ts";
