/**
 * Where the guest kernel, the initrd and the native libraries are: the path
 * configured, else `$JOEY_ASSETS_DIR` (the installed launcher sets it to
 * PREFIX/share/joey), else the source tree's build/ outputs. `joey check`
 * shows the result; hypervisors call resolveAssets() with their section.
 * @module
 */
import { JoeyError } from "../errors.ts";

/** One asset: the path chosen (null when nothing was found) and every place looked at. */
export interface AssetLocation {
  path: string | null;
  /** "config" (set in the configuration), "assets-dir", "build" or "none". */
  from: "config" | "assets-dir" | "build" | "none";
  searched: string[];
}

/** The assets a VM needs. */
export interface GuestAssets {
  kernel: AssetLocation;
  initrd: AssetLocation;
  vmmLibrary: AssetLocation;
}

/** The source tree this module belongs to (null inside a compiled executable). */
export function sourceRoot(): string | null {
  const url = new URL("../../", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname).replace(/\/$/, "") : null;
}

/** File names looked for, in order, in an assets directory and under build/. */
export const ASSET_NAMES = {
  // The uncompressed ELF first, for both hypervisors: a bzImage's
  // decompressor runs emulated (slowly) where /dev/kvm is PVM and under
  // QEMU/TCG (about 70 ms to agent-ready there; QEMU boots the ELF through
  // its PVH note), and costs nothing on VMX/SVM.
  kernel: {
    installed: ["vmlinux", "bzImage"],
    build: ["guest/kernel/vmlinux", "guest/kernel/bzImage"],
  },
  initrd: {
    installed: ["initrd.img", "initrd.cpio.gz", "initrd.cpio", "initramfs.cpio.gz"],
    build: [
      "guest/initrd.img",
      "guest/initrd.cpio.gz",
      "guest/image/initrd.img",
      "guest/image/initrd.cpio.gz",
      "guest/initrd/initrd.cpio.gz",
      "guest/initramfs.cpio.gz",
    ],
  },
  vmmLibrary: { installed: ["libjoeyvmm.so"], build: ["vmm/libjoeyvmm.so"] },
} as const;

/** Whether anything exists at path. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Finds one asset: configured path (used as is, even when missing), else the search order. */
export function locateAsset(
  name: keyof typeof ASSET_NAMES,
  configured: string,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): AssetLocation {
  if (configured) return { path: configured, from: "config", searched: [configured] };
  const searched: string[] = [];
  const dir = env.JOEY_ASSETS_DIR;
  if (dir) {
    for (const f of ASSET_NAMES[name].installed) {
      const p = `${dir}/${f}`;
      searched.push(p);
      if (isFile(p)) return { path: p, from: "assets-dir", searched };
    }
  }
  const root = sourceRoot();
  if (root) {
    for (const f of ASSET_NAMES[name].build) {
      const p = `${root}/build/${f}`;
      searched.push(p);
      if (isFile(p)) return { path: p, from: "build", searched };
    }
  }
  return { path: null, from: "none", searched };
}

/** The assets for a hypervisor section ({kernel, initrd[, vmm_library]}). */
export function resolveAssets(
  section: { kernel: string; initrd: string; vmm_library?: string },
  env?: Record<string, string | undefined>,
): GuestAssets {
  return {
    kernel: locateAsset("kernel", section.kernel, env),
    initrd: locateAsset("initrd", section.initrd, env),
    vmmLibrary: locateAsset("vmmLibrary", section.vmm_library ?? "", env),
  };
}

/** Throws unless path is a real directory owned by this user that nobody else may write. */
async function checkPrivateDir(path: string): Promise<void> {
  const info = await Deno.lstat(path);
  const mode = info.mode ?? 0;
  const uid = Deno.uid();
  if (
    !info.isDirectory || info.isSymlink || (uid !== null && info.uid !== uid) ||
    (mode & 0o022) !== 0
  ) {
    throw new JoeyError(
      "FailedPrecondition",
      `extraction cache ${path} is not private (a symlink, another owner, or writable by others): ` +
        "refusing to load native files from it",
    );
  }
}

/** Whether the file at path hashes to hex (SHA-256). */
async function sameContent(path: string, hex: string): Promise<boolean> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("") === hex;
}

/** True inside a `deno compile` executable (it never runs under the name "deno"). */
export function isCompiled(): boolean {
  return !/(^|\/)deno$/.test(Deno.execPath());
}

/** Where extracted embedded files go: $JOEY_CACHE_DIR, else /var/cache/joey (root) or ~/.cache/joey. */
export function extractionCacheDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.JOEY_CACHE_DIR) return env.JOEY_CACHE_DIR;
  if (Deno.uid() === 0) return "/var/cache/joey";
  return `${env.XDG_CACHE_HOME ?? `${env.HOME ?? "/tmp"}/.cache`}/joey`;
}

/**
 * A real file for path. Inside a compiled executable, embedded files live in
 * a virtual file system that Deno.dlopen and child processes (QEMU) cannot
 * see, so they are copied once into a content-addressed cache,
 * `<cache>/<sha256>/<name>` (directories 0700, owned by the user running
 * joey, root for the shim), and that path is returned. Elsewhere the path is
 * returned as is, unless options.force (tests).
 */
export async function materialize(
  path: string,
  options: { force?: boolean; cacheDir?: string } = {},
): Promise<string> {
  if (!options.force && !isCompiled()) return path;
  const bytes = await Deno.readFile(path);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  const root = options.cacheDir ?? extractionCacheDir();
  const dir = `${root}/${hex}`;
  const target = `${dir}/${path.slice(path.lastIndexOf("/") + 1)}`;
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  // What gets dlopen'ed or executed from here must be ours alone: a folder
  // another user can write to, or a symlink planted where ours should be,
  // could hand us someone else's library.
  await checkPrivateDir(root);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await checkPrivateDir(dir);
  const existing = await Deno.lstat(target).catch(() => null);
  if (existing?.isFile && existing.size === bytes.length && await sameContent(target, hex)) {
    return target;
  }
  // Write beside, then rename: a concurrent shim never sees a half-written library.
  const tmp = `${target}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, bytes, { mode: 0o500 });
  await Deno.rename(tmp, target);
  return target;
}
