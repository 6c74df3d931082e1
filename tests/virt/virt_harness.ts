/**
 * containerd for virt-container tests: the lead's harness (tests/containerd)
 * started with JOEY_RUNTIME=virt-container and a private JOEY_STATE_DIR in
 * its environment, which containerd passes on to every shim it runs. The
 * variables are set only while containerd is spawned, so other tests in
 * the same process keep their defaults.
 * @module
 */
import { Containerd, REPO } from "../containerd/harness.ts";
import { guestKernel } from "./guest_fixture.ts";

export { REPO };

/** Why the virt-container end-to-end tests cannot run here, or null. */
export async function virtSkipReason(): Promise<string | null> {
  const kernel = await guestKernel(REPO);
  if (typeof kernel === "string") return kernel;
  for (const f of ["build/guest/initrd.img", "build/vmm/joey-vhost-vsock"]) {
    try {
      await Deno.stat(`${REPO}/${f}`);
    } catch {
      return `${f} is not built (make build)`;
    }
  }
  return null;
}

/** A containerd whose shims run virt-container with state under stateDir. */
export async function startVirtContainerd(
  stateDir: string,
  hypervisor: "qemu" | "builtin" = "qemu",
  configPath?: string,
): Promise<Containerd> {
  const saved = ["JOEY_RUNTIME", "JOEY_STATE_DIR", "JOEY_HYPERVISOR", "JOEY_CONFIG"].map((k) =>
    [k, Deno.env.get(k)] as const
  );
  Deno.env.set("JOEY_RUNTIME", "virt-container");
  Deno.env.set("JOEY_STATE_DIR", stateDir);
  Deno.env.set("JOEY_HYPERVISOR", hypervisor);
  // A configuration file for the shims (e.g. another kernel or initrd), when a developer names one.
  const config = configPath ?? Deno.env.get("JOEY_TEST_CONFIG");
  if (config) Deno.env.set("JOEY_CONFIG", config);
  try {
    return await Containerd.start();
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}

/** Pids whose program (argv[0]'s base name) starts with prog and whose arguments mention part. */
export async function programsMentioning(prog: string, part: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
      const base = (argv[0] ?? "").split("/").pop() ?? "";
      if (base.startsWith(prog) && argv.slice(1).some((a) => a.includes(part))) {
        pids.push(Number(e.name));
      }
    } catch { /* exited */ }
  }
  return pids;
}

/** QEMU, virtiofsd and vsock back-end processes whose arguments mention dir. */
export async function sandboxProcesses(dir: string): Promise<number[]> {
  return [
    ...await programsMentioning("qemu-system", dir),
    ...await programsMentioning("virtiofsd", dir),
    ...await programsMentioning("joey-vhost-vsock", dir),
  ];
}
