/**
 * mount(2)/umount2(2), and the translation of fstab-style option lists
 * (["ro", "nosuid", "lowerdir=…"]) into flags plus a data string.
 * @module
 */
import { check, cstr, Errno, os, OsError } from "./ffi.ts";

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

/** umount2(2) flags. */
export const MNT_DETACH = 0x2;

// [set, clear] per option name; "clear" options undo a default (e.g. "rw").
const optionFlags: Record<string, [number, number]> = {
  ro: [MS.RDONLY, 0],
  rw: [0, MS.RDONLY],
  nosuid: [MS.NOSUID, 0],
  suid: [0, MS.NOSUID],
  nodev: [MS.NODEV, 0],
  dev: [0, MS.NODEV],
  noexec: [MS.NOEXEC, 0],
  exec: [0, MS.NOEXEC],
  sync: [MS.SYNCHRONOUS, 0],
  async: [0, MS.SYNCHRONOUS],
  dirsync: [MS.DIRSYNC, 0],
  mand: [MS.MANDLOCK, 0],
  nomand: [0, MS.MANDLOCK],
  noatime: [MS.NOATIME, 0],
  atime: [0, MS.NOATIME],
  nodiratime: [MS.NODIRATIME, 0],
  diratime: [0, MS.NODIRATIME],
  relatime: [MS.RELATIME, 0],
  norelatime: [0, MS.RELATIME],
  strictatime: [MS.STRICTATIME, 0],
  remount: [MS.REMOUNT, 0],
  bind: [MS.BIND, 0],
  rbind: [MS.BIND | MS.REC, 0],
  defaults: [0, 0],
};

const propagationFlags: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** An option list split into mount flags, propagation flags and the fs data string. */
export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string;
}

/** Splits mount options the way mount(8) does. */
export function parseMountOptions(options: string[]): ParsedOptions {
  let flags = 0, propagation = 0;
  const data: string[] = [];
  for (const option of options) {
    const known = optionFlags[option];
    if (known) {
      flags = (flags | known[0]) & ~known[1];
    } else if (option in propagationFlags) {
      propagation |= propagationFlags[option]!;
    } else {
      data.push(option);
    }
  }
  return { flags, propagation, data: data.join(",") };
}

/** Mounts source on target. */
export function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data = "",
): void {
  check(
    os().joey_os__mount(cstr(source), cstr(target), cstr(fstype), BigInt(flags), cstr(data)),
    `mount "${source}" on "${target}" (${fstype || "no type"})`,
  );
}

/**
 * Mounts one containerd-style mount (type, source, options) at target:
 * bind mounts get their read-only flag by a remount (the kernel ignores it
 * on the first bind), and propagation flags need calls of their own.
 */
export function mountWithOptions(
  type: string,
  source: string,
  target: string,
  options: string[],
): void {
  const { flags, propagation, data } = parseMountOptions(options);
  const isBind = (flags & MS.BIND) !== 0 || type === "bind";
  const bindFlags = isBind ? flags | MS.BIND : flags;
  mount(source, target, isBind ? "" : type, bindFlags, data);
  if (isBind && (flags & MS.RDONLY) !== 0) {
    mount("", target, "", (bindFlags & ~MS.REC) | MS.REMOUNT, data);
  }
  if (propagation) mount("", target, "", propagation);
}

/** Unmounts target (umount2 flags, e.g. MNT_DETACH). */
export function umount(target: string, flags = 0): void {
  check(os().joey_os__umount(cstr(target), flags), `umount "${target}"`);
}

/**
 * Unmounts everything stacked on target, until nothing is mounted there
 * (EINVAL) or it does not exist; a busy mount is detached.
 */
export function umountAll(target: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      umount(target);
    } catch (err) {
      if (!(err instanceof OsError)) throw err;
      if (err.errno === Errno.EINVAL || err.errno === Errno.ENOENT) return;
      if (err.errno !== Errno.EBUSY) throw err;
      umount(target, MNT_DETACH);
    }
  }
}

/** Whether target is a mount point (listed in /proc/self/mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const escaped = target.replace(
    /[ \t\n\\]/g,
    (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`,
  );
  return info.split("\n").some((line) => line.split(" ")[4] === escaped);
}
