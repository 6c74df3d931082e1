/**
 * Boots the guest (kernel + agent initrd) under QEMU/TCG, microvm machine,
 * with joey's vhost-user vsock back end (build/vmm/joey-vhost-vsock) for the
 * agent's vsock and virtiofsd for a shared directory, then dials the agent
 * through the hybrid vsock socket. Used by the in-VM test and the guest
 * benchmarks.
 * @module
 */
import { AgentClient } from "../../src/agent/mod.ts";
import { tcgKernelParams } from "../../src/hypervisor/qemu/mod.ts";
import { waitFor } from "../lib/tmp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const GUEST_KERNEL = `${ROOT}build/guest/kernel/bzImage`;
export const GUEST_INITRD = `${ROOT}build/guest/initrd.img`;
export const VHOST_VSOCK = `${ROOT}build/vmm/joey-vhost-vsock`;
export const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
export const QEMU = "qemu-system-x86_64";
/** The virtiofs tag the guest mounts. */
export const SHARE_TAG = "joeyshare";

/** Why a guest cannot be booted here, or null. */
export function guestUnavailable(): string | null {
  for (const f of [GUEST_KERNEL, GUEST_INITRD, VHOST_VSOCK, VIRTIOFSD]) {
    try {
      Deno.statSync(f);
    } catch {
      return `${f} is missing (make guest devices; apt qemu-system-x86)`;
    }
  }
  try {
    new Deno.Command(QEMU, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
  } catch {
    return `${QEMU} is not installed`;
  }
  if (Deno.uid() !== 0) return "virtiofsd needs root";
  return null;
}

/** Options of {@linkcode bootGuest}. */
export interface BootOptions {
  /** Work directory (sockets, console log). */
  dir: string;
  /** Host directory shared over virtiofs (omit for no share). */
  shareDir?: string;
  kernel?: string;
  initrd?: string;
  memMiB?: number;
  /** Deadline for the agent to answer Health.Check. */
  timeoutMs?: number;
  /**
   * Ready when the agent answers Health.Check over vsock ("health", the
   * default), or when it prints its ready line on the console ("console":
   * for a kernel that cannot see virtio-mmio devices without ACPI).
   */
  readiness?: "health" | "console";
  /**
   * Kernel parameters after the base command line. Default: the ones the
   * QEMU hypervisor adds under TCG (tcgKernelParams), so the guest boots as
   * a sandbox VM does.
   */
  kernelParams?: string;
}

/** A booted guest. */
export interface Guest {
  /** The agent client (null with readiness "console"). */
  client: AgentClient | null;
  /** QEMU start → first successful Health.Check, wall-clock ms. */
  bootToReadyMs: number;
  /** The serial console so far. */
  console(): Promise<string>;
  /** Stops QEMU and the back ends, closing the client. */
  stop(): Promise<void>;
}

function spawn(cmd: string, args: string[], log: string): Deno.ChildProcess {
  const f = Deno.openSync(log, { write: true, create: true, append: true });
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo(f.writable).catch(() => {});
  return child;
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, 3000);
  await child.status;
  clearTimeout(timer);
}

/** Boots the guest and connects to its agent. */
export async function bootGuest(opts: BootOptions): Promise<Guest> {
  const { dir } = opts;
  const mem = opts.memMiB ?? 256;
  const vhostSock = `${dir}/vhost-vsock.sock`;
  const hybrid = `${dir}/vsock.sock`;
  const fsSock = `${dir}/virtiofs.sock`;
  const consoleLog = `${dir}/console.log`;
  const children: Deno.ChildProcess[] = [];
  const stopAll = async () => {
    // QEMU first: the back ends then see their peer go.
    for (const c of [...children].reverse()) await stopChild(c);
  };
  try {
    children.push(
      spawn(
        VHOST_VSOCK,
        ["--socket", vhostSock, "--uds", hybrid, "--cid", "3"],
        `${dir}/vhost.log`,
      ),
    );
    const sockets = [vhostSock];
    if (opts.shareDir) {
      children.push(spawn(VIRTIOFSD, [
        `--socket-path=${fsSock}`,
        "-o",
        `source=${opts.shareDir}`,
        "-o",
        "cache=none",
        "-o",
        "sandbox=chroot",
      ], `${dir}/virtiofsd.log`));
      sockets.push(fsSock);
    }
    await waitFor(
      async () => {
        for (const s of sockets) if (!(await Deno.stat(s)).isSocket) return false;
        return true;
      },
      "vhost-user sockets",
      5000,
    );
    const args = [
      "-M",
      // acpi=off: QEMU then lists the virtio-mmio devices on the kernel
      // command line (the guest kernel has no ACPI).
      "microvm,acpi=off,memory-backend=mem",
      "-accel",
      "tcg",
      "-m",
      `${mem}M`,
      "-smp",
      "1",
      "-object",
      `memory-backend-memfd,id=mem,size=${mem}M,share=on`,
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-monitor",
      "none",
      "-no-reboot",
      // Modern virtio-mmio: virtiofsd (libvhost-user) refuses legacy devices.
      "-global",
      "virtio-mmio.force-legacy=false",
      "-serial",
      `file:${consoleLog}`,
      "-kernel",
      opts.kernel ?? GUEST_KERNEL,
      "-initrd",
      opts.initrd ?? GUEST_INITRD,
      "-append",
      `console=ttyS0 reboot=t panic=-1 quiet ${opts.kernelParams ?? await tcgKernelParams()}`
        .trimEnd(),
      "-chardev",
      `socket,id=vs,path=${vhostSock}`,
      "-device",
      "vhost-user-vsock-device,chardev=vs",
    ];
    if (opts.shareDir) {
      args.push(
        "-chardev",
        `socket,id=fs,path=${fsSock}`,
        "-device",
        `vhost-user-fs-device,chardev=fs,tag=${SHARE_TAG}`,
      );
    }
    const t0 = performance.now();
    const qemu = spawn(QEMU, args, `${dir}/qemu.log`);
    children.push(qemu);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let client: AgentClient | null = null;
    // Dial and Check until the agent answers (the socket exists before the
    // guest listens; the back end then closes the connection).
    while (true) {
      if (Date.now() > deadline) {
        throw new Error(
          `agent not ready within ${timeoutMs} ms; console:\n${await Deno.readTextFile(consoleLog)
            .catch(() => "")}`,
        );
      }
      const st = await Promise.race([qemu.status, new Promise((r) => setTimeout(r, 0, null))]);
      if (st) throw new Error(`qemu exited: ${await Deno.readTextFile(`${dir}/qemu.log`)}`);
      if (opts.readiness === "console") {
        const text = await Deno.readTextFile(consoleLog).catch(() => "");
        if (text.includes("joey-agent: ready on vsock")) break;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      try {
        const c = await AgentClient.dialVsock(hybrid, {
          dial: { timeoutMs: 2000, retryDelayMs: 10 },
        });
        if (await c.check({ timeoutMs: 2000 }) === "SERVING") {
          client = c;
          break;
        }
        c.close();
      } catch { /* not yet */ }
    }
    const bootToReadyMs = performance.now() - t0;
    const ready = client;
    return {
      client: ready,
      bootToReadyMs,
      console: () => Deno.readTextFile(consoleLog),
      async stop() {
        ready?.close();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The agent's resident set at start (KiB), from its ready line on the console. */
export function agentRssFromConsole(console: string): number | null {
  const m = /joey-agent: ready on vsock port \d+, uptime [\d.?]+ s, rss (\d+) KiB/.exec(console);
  return m ? Number(m[1]) : null;
}
