/**
 * cgroup v1 OOM notification: an eventfd registered on the memory cgroup's
 * memory.oom_control, readable (8-byte counter) after each OOM.
 * @module
 */
import { check, cstr, os } from "./ffi.ts";
import { RawFd } from "./fd.ts";

/** An eventfd that counts OOM events of the v1 memory cgroup at dir. */
export function oomEventFdV1(dir: string): RawFd {
  return new RawFd(check(os().joey_os__oom_eventfd_v1(cstr(dir)), `OOM eventfd for "${dir}"`));
}
