/**
 * A real Linux guest for hypervisor tests without the agent: the project's
 * kernel (build/guest/kernel/bzImage, `make guest-kernel`), whose drivers
 * are built in and which finds virtio-mmio devices on its command line; the
 * initrd's /init is a busybox script the test writes.
 * @module
 */

/** A kernel to boot. */
export interface GuestKernel {
  path: string;
  release: string;
}

function run(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
}

/**
 * The kernel release a bzImage announces: the setup header's kernel_version
 * (offset 0x20e) points, 0x200 further on, at "<release> (<builder>) #…".
 */
export async function kernelRelease(path: string): Promise<string> {
  const image = await Deno.readFile(path);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x210 || view.getUint32(0x202, true) !== 0x53726448) return ""; // "HdrS"
  const at = view.getUint16(0x20e, true) + 0x200;
  const end = image.indexOf(0, at);
  const text = new TextDecoder().decode(image.subarray(at, end < 0 ? at + 256 : end));
  return text.split(" ")[0] ?? "";
}

/** The project's kernel, or why there is none. */
export async function guestKernel(repo: string): Promise<GuestKernel | string> {
  const path = `${repo}/build/guest/kernel/bzImage`;
  try {
    await Deno.stat(path);
  } catch {
    return `no guest kernel: ${path} is not built (make guest-kernel)`;
  }
  return { path, release: await kernelRelease(path) };
}

/** Builds an initrd at out: busybox, then script as /init (after /proc, /sys, /dev). */
export async function buildInitrd(script: string, work: string, out: string): Promise<void> {
  const root = `${work}/initrd-root`;
  for (const d of ["bin", "dev", "proc", "sys", "mnt"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  await Deno.writeTextFile(
    `${root}/init`,
    `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
${script}
`,
    { mode: 0o755 },
  );
  const r = await run("sh", [
    "-c",
    `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${out}"`,
  ]);
  if (!r.success) throw new Error(`initrd: ${new TextDecoder().decode(r.stderr)}`);
}
