/**
 * containerd for virt-container tests: the lead's harness (tests/containerd)
 * started with JOEY_RUNTIME=virt-container and a private JOEY_STATE_DIR in
 * its environment, which containerd passes on to every shim it runs. The
 * variables are set only while containerd is spawned, so other tests in
 * the same process keep their defaults.
 * @module
 */
import { Containerd, processesMatching, REPO } from "../containerd/harness.ts";
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
export async function startVirtContainerd(stateDir: string): Promise<Containerd> {
  const saved = ["JOEY_RUNTIME", "JOEY_STATE_DIR", "JOEY_HYPERVISOR", "JOEY_CONFIG"].map((k) =>
    [k, Deno.env.get(k)] as const
  );
  Deno.env.set("JOEY_RUNTIME", "virt-container");
  Deno.env.set("JOEY_STATE_DIR", stateDir);
  Deno.env.set("JOEY_HYPERVISOR", Deno.env.get("JOEY_TEST_HYPERVISOR") ?? "qemu");
  // A configuration file for the shims (e.g. another kernel or initrd), when a developer names one.
  const config = Deno.env.get("JOEY_TEST_CONFIG");
  if (config) Deno.env.set("JOEY_CONFIG", config);
  try {
    return await Containerd.start();
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}

/** QEMU, virtiofsd and vsock back-end processes whose command line mentions dir. */
export async function sandboxProcesses(dir: string): Promise<number[]> {
  return [
    ...await processesMatching("qemu-system", dir),
    ...await processesMatching("virtiofsd", dir),
    ...await processesMatching("joey-vhost-vsock", dir),
  ];
}
