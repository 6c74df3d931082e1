/**
 * The QEMU hypervisor: a sandbox VM as a `qemu-system-x86_64 -M microvm`
 * child process, with joey's vhost-user vsock back end
 * (build/vmm/joey-vhost-vsock) giving the guest the agent's hybrid vsock,
 * QMP for pause, resume and quit, and KVM where VMX/SVM exist, TCG
 * (software emulation) otherwise.
 *
 * Host files, all under the sandbox's VM directory:
 * `qmp.sock`, `vhost-vsock.sock` (QEMU ↔ back end), `agent.sock` (the
 * hybrid vsock the agent client dials), `console.log`, `qemu.log`,
 * `vsock.log`, `qemu.pid`.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import type { QemuHypervisorSection } from "../../config/types.ts";
import { sourceRoot } from "../../config/assets.ts";
import {
  type Daemon,
  type DaemonRecord,
  logTail,
  spawnDaemon,
  stopDaemon,
  waitForPath,
} from "../../resource/daemon.ts";
import { qemuArgv } from "./command.ts";
import type { Capabilities, DeviceConfig, Hypervisor, VmExit, VmMetrics, VmSpec } from "../mod.ts";
import { QmpClient } from "./qmp.ts";
import { hardwareVirtualization } from "../select.ts";

/** The processes behind the VM, for metrics and crash cleanup. */
export interface VmProcesses {
  daemons: DaemonRecord[];
}

/** The vhost-user vsock back end: beside an installed joey, else the build tree's. */
export function vsockBackendPath(): string {
  const env = Deno.env.get("JOEY_VHOST_VSOCK");
  if (env) return env;
  const assets = Deno.env.get("JOEY_ASSETS_DIR");
  if (assets) return `${assets}/joey-vhost-vsock`;
  return `${sourceRoot() ?? "."}/build/vmm/joey-vhost-vsock`;
}

/** A QEMU microvm sandbox VM. */
export class QemuHypervisor implements Hypervisor {
  readonly name = "qemu";
  #section: QemuHypervisorSection;
  #spec: VmSpec | null = null;
  #devices: DeviceConfig[] = [];
  #stopped = false;
  #qemu: Daemon | null = null;
  #backend: Daemon | null = null;
  #qmp: QmpClient | null = null;
  #accel: "kvm" | "tcg" = "tcg";

  constructor(section: QemuHypervisorSection) {
    this.#section = section;
  }

  /** Records the VM's shape; nothing runs yet. */
  async prepare(spec: VmSpec): Promise<void> {
    this.#spec = spec;
    const accel = this.#section.accel;
    this.#accel = accel === "auto" ? ((await hardwareVirtualization()) ? "kvm" : "tcg") : accel;
    this.#devices = [{ kind: "vsock", socket: `${spec.dir}/vhost-vsock.sock` }];
  }

  /** Adds a device (before start). */
  addDevice(device: DeviceConfig): void {
    if (this.#qemu) {
      throw new JoeyError("FailedPrecondition", "QEMU: devices are added before start");
    }
    this.#devices.push(device);
  }

  /** The accelerator chosen by prepare. */
  get accel(): "kvm" | "tcg" {
    return this.#accel;
  }

  /** The hybrid vsock socket the agent client dials. */
  agentSocket(): string {
    return `${this.#requireSpec().dir}/agent.sock`;
  }

  /** What this hypervisor supports. */
  capabilities(): Capabilities {
    return { fsSharing: true, hybridVsock: true, pause: true, network: true };
  }

  #requireSpec(): VmSpec {
    if (!this.#spec) throw new JoeyError("FailedPrecondition", "QEMU: prepare() was not called");
    return this.#spec;
  }

  /**
   * Starts the vsock back end, then QEMU, then connects QMP. Resolves once
   * QEMU runs the guest; the agent may still be booting. Everything started
   * is stopped again when this fails.
   */
  async start(timeoutMs: number): Promise<void> {
    const spec = this.#requireSpec();
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    try {
      const vhost = `${spec.dir}/vhost-vsock.sock`;
      this.#backend = await spawnDaemon("joey-vhost-vsock", [
        vsockBackendPath(),
        "--socket",
        vhost,
        "--uds",
        this.agentSocket(),
        "--cid",
        "3",
      ], `${spec.dir}/vsock.log`);
      await waitForPath(this.#backend, vhost, left());
      const qmpSocket = `${spec.dir}/qmp.sock`;
      const argv = qemuArgv({
        binary: this.#section.path || "qemu-system-x86_64",
        name: `joey-${spec.id}`,
        machineType: this.#section.machine_type || "microvm",
        accel: this.#accel,
        vcpus: spec.vcpus,
        memoryMiB: spec.memoryMiB,
        kernel: spec.kernel,
        initrd: spec.initrd,
        cmdline: this.#accel === "tcg"
          ? `${spec.cmdline} ${await tcgKernelParams(spec.vcpus)}`
          : spec.cmdline,
        consolePath: `${spec.dir}/console.log`,
        qmpSocket,
        pidFile: `${spec.dir}/qemu.pid`,
        devices: this.#devices,
      });
      // Taps live in the pod's network namespace, so QEMU opens them there;
      // unix sockets are paths and work from any namespace.
      const wrapped = spec.netns ? ["nsenter", `--net=${spec.netns}`, "--", ...argv] : argv;
      this.#qemu = await spawnDaemon("qemu", wrapped, `${spec.dir}/qemu.log`);
      await waitForPath(this.#qemu, qmpSocket, left());
      this.#qmp = await this.#connectQmp(qmpSocket, left());
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async #connectQmp(path: string, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      try {
        return await QmpClient.connect(path);
      } catch (err) {
        if (Date.now() > deadline) {
          throw new JoeyError(
            "DeadlineExceeded",
            `QEMU: QMP on "${path}" not ready: ${err}: ${await logTail(this.#qemu!.logPath)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Why the VM stopped or failed, from QEMU's log and the guest console. */
  async diagnostics(): Promise<string> {
    const dir = this.#spec?.dir;
    if (!dir) return "";
    const qemu = await logTail(`${dir}/qemu.log`, 5);
    const console = await logTail(`${dir}/console.log`, 15);
    return [qemu && `qemu: ${qemu}`, console && `console:\n${console}`].filter(Boolean).join("\n");
  }

  /** Resolves when QEMU exits (null when it never started). */
  get exited(): Promise<number> | null {
    return this.#qemu?.exited ?? null;
  }

  /** Freezes the vCPUs (QMP stop). */
  async pause(): Promise<void> {
    await this.#requireQmp().execute("stop");
  }

  /** Lets the vCPUs run again (QMP cont). */
  async resume(): Promise<void> {
    await this.#requireQmp().execute("cont");
  }

  /** QMP query-status: "running", "paused", … */
  async status(): Promise<string> {
    const r = await this.#requireQmp().execute("query-status") as { status?: string };
    return r.status ?? "unknown";
  }

  #requireQmp(): QmpClient {
    if (!this.#qmp) throw new JoeyError("FailedPrecondition", "QEMU: the VM is not running");
    return this.#qmp;
  }

  /** Resolves when QEMU ends: "stopped" after stop(), else "shutdown" with its exit code. */
  async wait(): Promise<VmExit> {
    const exited = this.#qemu?.exited;
    if (!exited) return { reason: "stopped", code: 0, message: "" };
    const code = await exited;
    return this.#stopped
      ? { reason: "stopped", code, message: "" }
      : { reason: "shutdown", code, message: await this.diagnostics() };
  }

  /** Stops QEMU (QMP quit, then signals) and the back end; safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#qmp) {
      await Promise.race([
        this.#qmp.execute("quit").catch(() => {}),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      this.#qmp.close();
      this.#qmp = null;
    }
    if (this.#qemu) await stopDaemon(this.#qemu);
    // The back end exits by itself once QEMU hangs up; signal it if not.
    if (this.#backend) await stopDaemon(this.#backend, 500);
    this.#qemu = null;
    this.#backend = null;
  }

  /** The host processes behind this VM (persisted for crash cleanup). */
  processes(): VmProcesses {
    const daemons: DaemonRecord[] = [];
    for (const d of [this.#qemu, this.#backend]) {
      if (d) daemons.push({ name: d.name, pid: d.pid, startTime: d.startTime });
    }
    return { daemons };
  }

  /** Host resource use: QEMU's resident set size in KiB. */
  async metrics(): Promise<VmMetrics> {
    if (!this.#qemu) return { rssKiB: 0 };
    return { rssKiB: await rssKiB(this.#qemu.pid) };
  }
}

/**
 * Kernel parameters for a guest under TCG, each one a measured part of the
 * boot to agent-ready (`initcall_debug` under this QEMU; docs/virt-container.md):
 * - `tsc_early_khz=<host rate> tsc=reliable no_timer_check`: the guest's TSC
 *   is the host's, but calibrating it against the emulated PIT fails when the
 *   host is busy and the boot then hangs; so the host's rate is given and trusted.
 * - one vCPU only ({@linkcode TCG_UP_PARAMS}): `noapictimer` skips
 *   calibrating the local APIC timer against emulated PIT ticks (100 ms of
 *   guest time, ~230 ms under TCG); the PIT then drives the tick, one-shot,
 *   so high-resolution timers stay (with more vCPUs they would not, so
 *   there the APIC timer is kept). `noreplace-smp` keeps the kernel from
 *   rewriting every `lock` prefix for a uniprocessor, one text_poke per site
 *   (~80 ms under TCG).
 */
export async function tcgKernelParams(vcpus = 1): Promise<string> {
  let khz = 0;
  try {
    const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
    khz = Math.round(Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1] ?? 0) * 1000);
  } catch { /* no cpuinfo: leave calibration to the guest */ }
  return [
    khz > 0 ? `tsc_early_khz=${khz}` : "",
    ...TCG_PARAMS,
    ...(vcpus === 1 ? TCG_UP_PARAMS : []),
  ].filter(Boolean).join(" ");
}

/** The host-independent part of {@linkcode tcgKernelParams}. */
export const TCG_PARAMS = ["tsc=reliable", "no_timer_check"];
/** What {@linkcode tcgKernelParams} adds for a guest with one vCPU. */
export const TCG_UP_PARAMS = ["noapictimer", "noreplace-smp"];

/** VmRSS of pid in KiB (0 when gone). */
export async function rssKiB(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}
