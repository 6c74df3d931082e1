/**
 * Guest benchmarks (issue 5), all under QEMU/TCG (microvm) with joey's
 * vhost-user vsock back end:
 * - guest.boot_to_agent_ready: QEMU start → first Health.Check answer over
 *   hybrid vsock, joey's kernel vs Debian's cloud kernel, same agent (the
 *   cloud kernel's initrd adds the virtio/vsock modules it lacks built in),
 *   alternately.
 * - guest.agent_rss: the agent's RSS right after start, as it reports it on
 *   the console (from smaps_rollup).
 * - guest.container_true: CreateContainer + StartContainer + WaitProcess of
 *   `true` on a virtiofs-shared busybox rootfs.
 * @module
 */
import { alternate, type Benchmark, makeRecord, median } from "../lib/record.ts";
import { makeBusyboxRootfs, process, spec } from "../../tests/agent/fixture.ts";
import {
  agentRssFromConsole,
  bootGuest,
  GUEST_INITRD,
  GUEST_KERNEL,
  guestUnavailable,
  SHARE_TAG,
} from "../../tests/guest/qemu_guest.ts";
import { GUEST_SHARE_DIR } from "../../src/agent/mod.ts";
import { TCG_PARAMS, TCG_UP_PARAMS } from "../../src/hypervisor/qemu/mod.ts";

const BOOT_RUNS = 7;
const CONTAINER_RUNS = 20;
const ROOT = new URL("../../", import.meta.url).pathname;
const CLOUD_MODULES = [
  "drivers/virtio/virtio_ring",
  "drivers/virtio/virtio",
  "drivers/virtio/virtio_mmio",
  "net/vmw_vsock/vsock",
  "net/vmw_vsock/vmw_vsock_virtio_transport_common",
  "net/vmw_vsock/vmw_vsock_virtio_transport",
];

/** Debian's cloud kernel and an initrd of the same agent plus its modules. */
async function cloudPeer(dir: string): Promise<{ kernel: string; initrd: string } | null> {
  const kernel = [...Deno.readDirSync("/boot")].map((e) => e.name)
    .filter((n) => /^vmlinuz-.*-cloud-amd64$/.test(n)).sort().pop();
  if (!kernel) return null;
  const version = kernel.slice("vmlinuz-".length);
  const modules: string[] = [];
  for (const m of CLOUD_MODULES) {
    const base = `/lib/modules/${version}/kernel/${m}.ko`;
    const found = [base, `${base}.xz`, `${base}.zst`].find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (!found) return null;
    modules.push(found);
  }
  const initrd = `${dir}/initrd-cloud.img`;
  const r = await new Deno.Command("bash", {
    args: [`${ROOT}guest/image/build.sh`, initrd, `${ROOT}build/guest/agent/joey-agent`],
    env: { MODULES: modules.join(" ") },
    stdout: "null",
  }).output();
  if (!r.success) {
    throw new Error(`building the cloud-kernel initrd: ${new TextDecoder().decode(r.stderr)}`);
  }
  return { kernel: `/boot/${kernel}`, initrd };
}

async function bootOnce(
  dir: string,
  kernel: string,
  initrd: string,
  readiness: "health" | "console",
  rss?: number[],
  kernelParams?: string,
) {
  const runDir = await Deno.makeTempDir({ dir });
  const g = await bootGuest({
    dir: runDir,
    kernel,
    initrd,
    timeoutMs: 120_000,
    readiness,
    ...(kernelParams === undefined ? {} : { kernelParams }),
  });
  try {
    if (rss) {
      const kib = agentRssFromConsole(await g.console());
      if (kib !== null) rss.push(kib);
    }
    return g.bootToReadyMs;
  } finally {
    await g.stop();
  }
}

export const benchmarks: Benchmark[] = [{
  ids: ["guest.boot_to_agent_ready", "guest.agent_rss", "guest.container_true"],
  async run() {
    const why = guestUnavailable();
    if (why) throw new Error(`guest benchmarks cannot run: ${why}`);
    const dir = await Deno.makeTempDir({ prefix: "joey-bench-guest-" });
    try {
      const peer = await cloudPeer(dir);
      const rss: number[] = [];
      // Both kernels are timed to the agent's ready line on the console: the
      // cloud kernel cannot see virtio-mmio devices without ACPI (it lacks
      // VIRTIO_MMIO_CMDLINE_DEVICES) and stalls calibrating the TSC with
      // ACPI under TCG, so its agent is never reachable over vsock. joey's
      // kernel is also timed to a real Health.Check over vsock.
      const joeyBoot = () => bootOnce(dir, GUEST_KERNEL, GUEST_INITRD, "console", rss);
      // Warm QEMU's and the page cache's first-run costs.
      await joeyBoot();
      rss.length = 0;
      let boot: { a: number[]; b: number[] };
      if (peer) {
        const cloud = peer;
        boot = await alternate(
          BOOT_RUNS,
          joeyBoot,
          // The peer keeps the bare command line it was always measured
          // with; joey's kernel gets the runtime's TCG parameters.
          () => bootOnce(dir, cloud.kernel, cloud.initrd, "console", undefined, ""),
        );
      } else {
        boot = { a: [], b: [] };
        for (let i = 0; i < BOOT_RUNS; i++) boot.a.push(await joeyBoot());
      }

      const health: number[] = [];
      for (let i = 0; i < BOOT_RUNS; i++) {
        health.push(await bootOnce(dir, GUEST_KERNEL, GUEST_INITRD, "health"));
      }

      // container_true on one booted guest with a virtiofs share.
      const share = `${dir}/share`;
      await makeBusyboxRootfs(`${share}/rootfs-src`);
      const g = await bootGuest({ dir: await Deno.makeTempDir({ dir }), shareDir: share });
      const times: number[] = [];
      try {
        const c = g.client!;
        await c.createSandbox({
          storages: [{
            driver: "virtio-fs",
            source: SHARE_TAG,
            fstype: "virtiofs",
            mount_point: GUEST_SHARE_DIR,
          }],
        });
        for (let i = 0; i <= CONTAINER_RUNS; i++) {
          const id = `t${i}`;
          await Deno.mkdir(`${share}/${id}`);
          await Deno.rename(
            `${share}/${i ? `t${i - 1}` : "rootfs-src"}${i ? "/rootfs" : ""}`,
            `${share}/${id}/rootfs`,
          );
          const t0 = performance.now();
          await c.createContainer({ container_id: id, OCI: spec(process(["true"])) });
          await c.startContainer(id);
          const status = await c.waitProcess(id, "");
          const ms = performance.now() - t0;
          if (status !== 0) throw new Error(`true exited ${status}`);
          await c.removeContainer(id);
          if (i > 0) times.push(ms); // the first run warms the guest's caches
        }
      } finally {
        await g.stop();
      }

      return [
        makeRecord({
          id: "guest.boot_to_agent_ready",
          metric: "QEMU start → agent ready line on the serial console (QEMU/TCG, microvm)",
          unit: "ms",
          joey: median(boot.a),
          peer: peer
            ? `Debian cloud kernel ${peer.kernel} + same agent (virtio/vsock as modules)`
            : null,
          peer_value: peer ? median(boot.b) : null,
          target: "ratio <= 1",
          runs: BOOT_RUNS,
          stat: "median",
          notes: `joey kernel to a Health.Check answer over hybrid vsock: ${
            Math.round(median(health))
          } ms median; joey kernel booted with the QEMU hypervisor's TCG parameters (${
            [...TCG_PARAMS, ...TCG_UP_PARAMS].join(" ")
          }, tsc_early_khz), the peer with the bare command line; ${
            peer
              ? "peer timed on the console only (no virtio-mmio without ACPI)"
              : "no Debian cloud kernel here"
          }`,
        }),
        makeRecord({
          id: "guest.agent_rss",
          metric: "agent RSS in the guest right after start (smaps_rollup)",
          unit: "KiB",
          joey: median(rss),
          target: "joey <= 4096",
          runs: rss.length,
          stat: "median",
          notes: "target chosen by the project (the issue names none)",
        }),
        makeRecord({
          id: "guest.container_true",
          metric:
            "CreateContainer + StartContainer + WaitProcess of `true` (QEMU/TCG guest, virtiofs rootfs)",
          unit: "ms",
          joey: median(times),
          target: "joey <= 1000",
          runs: times.length,
          stat: "median",
          notes: "software-emulated guest; target chosen by the project (the issue names none)",
        }),
      ];
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
}];
