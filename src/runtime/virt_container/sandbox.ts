/**
 * A sandbox: one VM per pod. The first container of a pod (grouped by the
 * `io.kubernetes.cri.sandbox-id` annotation) boots it: resources before
 * the VM (state directory, cgroup, virtiofsd, taps), the VM, its
 * processes into the cgroup, the agent's Health.Check, CreateSandbox with
 * the share. The last container's delete stops it and removes everything.
 * @module
 */
import type { JoeyConfig, VmSection } from "../../config/types.ts";
import { resolveAssets } from "../../config/assets.ts";
import { invalidArgument, JoeyError } from "../../errors.ts";
import { selectHypervisor } from "../../hypervisor/select.ts";
import { QemuHypervisor } from "../../hypervisor/qemu/mod.ts";
import { BuiltinHypervisor } from "../../hypervisor/builtin/mod.ts";
import type { Hypervisor } from "../../hypervisor/mod.ts";
import type { DaemonRecord } from "../../resource/daemon.ts";
import { GUEST_SHARE_DIR, ResourceManager, SHARE_TAG } from "../../resource/mod.ts";
import { AgentConnection } from "./agent_conn.ts";
import { configureGuestNetwork } from "./guest_network.ts";
import { log } from "../../shim/log.ts";
import { followConsole } from "./console_log.ts";
import { OomWatcher } from "./oom_watcher.ts";

/** The pod annotation that groups containers into one sandbox. */
export const SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";

/** What a sandbox id may look like: it names host directories and cgroups. */
const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The sandbox a container belongs to: its pod's id, else its own. An id
 * that could leave its directory ("../x", "/") is refused.
 */
export function sandboxIdOf(containerId: string, spec: Record<string, unknown>): string {
  const annotations = (spec.annotations ?? {}) as Record<string, unknown>;
  const sid = annotations[SANDBOX_ID_ANNOTATION];
  const id = typeof sid === "string" && sid ? sid : containerId;
  if (!SANDBOX_ID.test(id) || id === "." || id === "..") {
    throw invalidArgument(`sandbox id "${id}" is not a plain name (letters, digits, "_.-")`);
  }
  return id;
}

/** Time of each boot phase, in ms (logged as "sandbox ready"; bench/suites/virt.ts reads it). */
export interface BootPhases {
  /** Shim process start until the sandbox is asked for (Deno start, ttrpc, Create). */
  shimStart: number;
  resources: number;
  vmStart: number;
  agentReady: number;
  createSandbox: number;
}

/** A running sandbox VM. */
export class Sandbox {
  readonly id: string;
  readonly agent: AgentConnection;
  readonly vm: Hypervisor;
  readonly resources: ResourceManager;
  readonly phases: BootPhases;
  /** Containers living in this sandbox. */
  readonly containers = new Set<string>();
  #stopping = false;
  /** Stops the console copy (enable_debug). */
  #consoleStop = new AbortController();
  #consoleCopy: Promise<void> = Promise.resolve();
  #oom: OomWatcher | null = null;

  private constructor(
    id: string,
    vm: Hypervisor,
    resources: ResourceManager,
    agent: AgentConnection,
    phases: BootPhases,
  ) {
    this.id = id;
    this.vm = vm;
    this.resources = resources;
    this.agent = agent;
    this.phases = phases;
  }

  /**
   * The VMM's pid (what containerd sees as the pid of every process): QEMU's,
   * or the shim's own for the in-process VMM.
   */
  get pid(): number {
    return hostProcesses(this.vm).find((d) => d.name === "qemu")?.pid ?? Deno.pid;
  }

  /** Boots the sandbox for a pod whose first container has spec; undoes everything on failure. */
  static async start(
    id: string,
    spec: Record<string, unknown>,
    config: JoeyConfig,
  ): Promise<Sandbox> {
    const choice = await selectHypervisor(config.hypervisor);
    const section: VmSection = config.hypervisor[choice.name];
    const resources = new ResourceManager(config.runtime.state_dir, id, section);
    const vm: Hypervisor = choice.name === "qemu"
      ? new QemuHypervisor(config.hypervisor.qemu)
      : new BuiltinHypervisor(config.hypervisor.builtin);
    const consoleStop = new AbortController();
    let consoleCopy: Promise<void> = Promise.resolve();
    const t0 = performance.now();
    const phases: BootPhases = {
      shimStart: t0,
      resources: 0,
      vmStart: 0,
      agentReady: 0,
      createSandbox: 0,
    };
    try {
      const assets = resolveAssets(section);
      if (!assets.kernel.path || !assets.initrd.path) {
        throw new JoeyError(
          "FailedPrecondition",
          `sandbox "${id}": guest ${
            !assets.kernel.path ? "kernel" : "initrd"
          } not found (looked at ${
            (!assets.kernel.path ? assets.kernel : assets.initrd).searched.join(", ")
          })`,
        );
      }
      const vmResources = await resources.prepareBeforeStartVm(spec);
      phases.resources = performance.now() - t0;
      await vm.prepare({
        id,
        dir: resources.layout.vmDir,
        vcpus: section.default_vcpus,
        memoryMiB: section.default_memory,
        kernel: assets.kernel.path,
        initrd: assets.initrd.path,
        cmdline: [
          "console=ttyS0 reboot=t panic=-1",
          section.enable_debug ? "" : "quiet",
          section.kernel_params,
        ].filter(Boolean).join(" "),
        ...(vmResources.network ? { netns: vmResources.network.netns } : {}),
      });
      await vm.addDevice({ kind: "fs", socket: vmResources.fs.socket, tag: vmResources.fs.tag });
      for (const i of vmResources.network?.interfaces ?? []) {
        await vm.addDevice({ kind: "net", tap: i.tap, mac: i.mac });
      }
      const deadline = Date.now() + section.boot_timeout_ms;
      await vm.start(section.boot_timeout_ms);
      if (section.enable_debug && vm instanceof QemuHypervisor) {
        consoleCopy = followConsole(
          `${resources.layout.vmDir}/console.log`,
          id,
          consoleStop.signal,
        );
      }
      await resources.setupAfterStartVm(hostProcesses(vm));
      phases.vmStart = performance.now() - t0 - phases.resources;
      const vmGone = vm.wait().then((exit) => {
        throw new JoeyError(
          "Internal",
          `sandbox "${id}": the VM ended during boot (${exit.reason} ${exit.code}): ${exit.message}`,
        );
      });
      const agent = await AgentConnection.connect({
        socket: vm.agentSocket(),
        port: config.agent.port,
        dialTimeoutMs: config.agent.dial_timeout_ms,
        requestTimeoutMs: config.agent.request_timeout_ms,
        deadline,
        abort: vmGone,
      }).catch(async (err) => {
        throw new JoeyError(
          "DeadlineExceeded",
          `sandbox "${id}": ${err instanceof Error ? err.message : err}\n${await diagnostics(vm)}`,
        );
      });
      phases.agentReady = performance.now() - t0 - phases.resources - phases.vmStart;
      const t1 = performance.now();
      try {
        await agent.call("CreateSandbox", {
          hostname: typeof spec.hostname === "string" ? spec.hostname : "",
          sandbox_id: id,
          storages: [{
            driver: "virtio-fs",
            source: SHARE_TAG,
            fstype: "virtiofs",
            mount_point: GUEST_SHARE_DIR,
            options: [],
          }],
        });
        if (vmResources.network) {
          await configureGuestNetwork(agent, vmResources.network);
        }
      } catch (err) {
        agent.close();
        throw err;
      }
      phases.createSandbox = performance.now() - t1;
      log.info("sandbox ready", {
        sandbox: id,
        hypervisor: vm.name,
        ...Object.fromEntries(
          Object.entries(phases).map(([k, v]) => [`${k}_ms`, Math.round(v * 10) / 10]),
        ),
      });
      const sandbox = new Sandbox(id, vm, resources, agent, phases);
      sandbox.#adoptConsole(consoleStop, consoleCopy);
      return sandbox;
    } catch (err) {
      consoleStop.abort();
      await consoleCopy;
      await vm.stop();
      await resources.cleanupSandbox();
      throw err;
    }
  }

  #adoptConsole(stop: AbortController, copy: Promise<void>): void {
    this.#consoleStop = stop;
    this.#consoleCopy = copy;
  }

  /**
   * Reports OOM kills in the guest: onOom(id) for each container of this
   * sandbox whose cgroup counted one, until stop().
   */
  watchOom(onOom: (id: string) => void): void {
    if (this.#oom || this.#stopping) return;
    this.#oom = OomWatcher.start({
      sandboxId: this.id,
      agent: this.agent,
      isKnown: (id) => this.containers.has(id),
      onOom,
    });
  }

  /** Whether stop() has begun. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** DestroySandbox, the VM stopped, every host resource removed. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const t0 = performance.now();
    // DestroySandbox answers the OOM watcher's call (Canceled), close() any other end.
    this.#oom?.stop();
    await this.agent.call("DestroySandbox", {}, { timeoutMs: 5000 }).catch(() => {});
    this.agent.close();
    await this.#oom?.done;
    await this.vm.stop();
    this.#consoleStop.abort();
    await this.#consoleCopy;
    await this.resources.cleanupSandbox();
    log.info("sandbox stopped", {
      sandbox: this.id,
      teardown_ms: Math.round((performance.now() - t0) * 10) / 10,
    });
  }
}

/** Host processes behind a VM (QEMU and its helpers; none for the in-process VMM). */
function hostProcesses(vm: Hypervisor): DaemonRecord[] {
  return vm instanceof QemuHypervisor ? vm.processes().daemons : [];
}

/** What the VM printed before failing (QEMU's log and console), when known. */
function diagnostics(vm: Hypervisor): Promise<string> {
  return vm instanceof QemuHypervisor ? vm.diagnostics() : Promise.resolve("");
}
