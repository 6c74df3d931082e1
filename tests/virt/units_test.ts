/**
 * Unit tests of the virt-container pieces that need no VM: OCI → agent
 * translation, agent stats → cgroup Metrics, the process state types,
 * hypervisor selection, the host layout, and crash cleanup from a
 * persisted state (real processes, a real mount, a real cgroup).
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { processToAgent, specToAgent } from "../../src/runtime/virt_container/to_agent.ts";
import { agentStatsToMetrics } from "../../src/runtime/virt_container/metrics.ts";
import { CreatedState } from "../../src/runtime/virt_container/process_state.ts";
import { sandboxIdOf } from "../../src/runtime/virt_container/sandbox.ts";
import { consoleFields } from "../../src/runtime/virt_container/console_log.ts";
import { selectHypervisor } from "../../src/hypervisor/select.ts";
import { GUEST_SHARE_DIR, SandboxLayout } from "../../src/resource/layout.ts";
import { cleanupSandboxDir } from "../../src/resource/manager.ts";
import { emptyState, saveState } from "../../src/resource/state.ts";
import { isAlive, spawnDaemon } from "../../src/resource/daemon.ts";
import { createSandboxCgroup } from "../../src/resource/cgroup/sandbox_cgroup.ts";
import { messageType } from "../../src/proto/registry.ts";
import { JoeyError } from "../../src/errors.ts";
import { mountWithOptions } from "../../src/os/mod.ts";
import { mountsUnder } from "../containerd/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("specToAgent() roots the spec in the share and drops host-only parts", () => {
  const spec = {
    ociVersion: "1.0.2",
    process: { terminal: false, user: { uid: 1, gid: 2 }, args: ["sh"], oomScoreAdj: 5 },
    root: { path: "rootfs", readonly: true },
    hostname: "h",
    annotations: { "io.kubernetes.cri.sandbox-id": "p" },
    hooks: { prestart: [{ path: "/host/bin" }] },
    linux: {
      namespaces: [{ type: "pid" }, { type: "network", path: "/var/run/netns/x" }],
      seccomp: { defaultAction: "SCMP_ACT_ERRNO" },
      resources: { memory: { limit: 1024, disableOOMKiller: false }, cpu: { shares: 2 } },
      sysctl: { "net.ipv4.ip_forward": "1" },
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    },
  };
  const out = specToAgent(spec, `${GUEST_SHARE_DIR}/c/rootfs`, [
    { destination: "/data", source: `${GUEST_SHARE_DIR}/c/volumes/0`, type: "bind" },
  ]);
  assertEquals(out.Root, { Path: `${GUEST_SHARE_DIR}/c/rootfs`, Readonly: true });
  assertEquals(out.Version, "1.0.2");
  assertEquals(out.Hooks, undefined);
  const linux = out.Linux as Record<string, unknown>;
  assertEquals(linux.Namespaces, [{ Type: "pid", Path: "" }]);
  assertEquals(linux.Seccomp, undefined);
  assertEquals((out.Annotations as Record<string, string>)["io.kubernetes.cri.sandbox-id"], "p");
  // The whole request encodes with the agent's codec, fields intact.
  const codec = messageType("grpc.CreateContainerRequest");
  const back = codec.decode(codec.encode({ container_id: "c", OCI: out })) as {
    OCI: { Process: { User: { UID: number }; OOMScoreAdj: number }; Mounts: { source: string }[] };
  };
  assertEquals(back.OCI.Process.User.UID, 1);
  assertEquals(back.OCI.Process.OOMScoreAdj, 5);
  assertEquals(back.OCI.Mounts[0]!.source, `${GUEST_SHARE_DIR}/c/volumes/0`);
});

Deno.test("processToAgent() takes the terminal flag from the stdio", () => {
  const p = processToAgent({ terminal: false, args: ["sh"], cwd: "/w" }, true);
  assertEquals(p.Terminal, true);
  assertEquals(p.Args, ["sh"]);
  assertEquals(p.Cwd, "/w");
});

Deno.test("agentStatsToMetrics() fills containerd's v1 Metrics from the guest's cgroup stats", () => {
  const any = agentStatsToMetrics({
    cgroup_stats: {
      cpu_stats: { cpu_usage: { total_usage: 7, percpu_usage: [7], usage_in_kernelmode: 3 } },
      memory_stats: { cache: 5, usage: { usage: 4096, max_usage: 8192, limit: 1 << 20 } },
      pids_stats: { current: 3, limit: 10 },
    },
    network_stats: [{ name: "eth0", rx_bytes: 9 }],
  });
  assertEquals(any.typeUrl, "io.containerd.cgroups.v1.Metrics");
  const m = messageType("io.containerd.cgroups.v1.Metrics").decode(any.value) as {
    pids: { current: number; limit: number };
    cpu: { usage: { total: number; kernel: number; per_cpu: number[] } };
    memory: { cache: number; usage: Record<string, number> };
    network: { name: string; rx_bytes: number }[];
  };
  assertEquals(m.pids, { current: 3, limit: 10 });
  assertEquals(m.cpu.usage.total, 7);
  assertEquals(m.cpu.usage.kernel, 3);
  assertEquals(m.cpu.usage.per_cpu, [7]);
  assertEquals(m.memory.cache, 5);
  assertEquals(m.memory.usage, { limit: 1 << 20, usage: 4096, max: 8192, failcnt: 0 });
  assertEquals(m.network[0]!.name, "eth0");
  assertEquals(m.network[0]!.rx_bytes, 9);
});

Deno.test("process states own their transitions", () => {
  const created = new CreatedState('container "c"');
  assertIncludes(
    assertThrows(() => created.pause(), JoeyError).message,
    "cannot pause a created process",
  );
  const running = created.start();
  assertEquals(running.status, "running");
  assertIncludes(
    assertThrows(() => running.start(), JoeyError).message,
    "cannot start a running process",
  );
  assertIncludes(
    assertThrows(() => running.delete(), JoeyError).message,
    "cannot delete a running process",
  );
  const paused = running.pause();
  assertEquals(paused.status, "paused");
  paused.checkKill();
  const stopped = paused.resume().exited();
  assertEquals(stopped.status, "stopped");
  const err = assertThrows(() => stopped.checkKill(), JoeyError);
  assertEquals((err as JoeyError).kind, "NotFound");
  const deleted = stopped.delete();
  assertThrows(() => deleted.delete(), JoeyError);
});

Deno.test("sandboxIdOf() groups by the CRI sandbox-id annotation, else the container id", () => {
  assertEquals(
    sandboxIdOf("c1", { annotations: { "io.kubernetes.cri.sandbox-id": "pod" } }),
    "pod",
  );
  assertEquals(sandboxIdOf("c1", { annotations: {} }), "c1");
  assertEquals(sandboxIdOf("c1", {}), "c1");
  for (const bad of ["../etc", "a/b", "..", ".hidden"]) {
    const spec = { annotations: { "io.kubernetes.cri.sandbox-id": bad } };
    assertEquals(assertThrows(() => sandboxIdOf("c1", spec), JoeyError).kind, "InvalidArgument");
  }
});

Deno.test("selectHypervisor(): auto follows the CPU's VMX/SVM flag", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/vmx`, "processor: 0\nflags\t\t: fpu vme vmx sse\n");
    await Deno.writeTextFile(`${dir}/none`, "processor: 0\nflags\t\t: fpu vme sse hypervisor\n");
    assertEquals((await selectHypervisor({ name: "auto" }, `${dir}/vmx`)).name, "builtin");
    assertEquals((await selectHypervisor({ name: "auto" }, `${dir}/none`)).name, "qemu");
    assertEquals((await selectHypervisor({ name: "builtin" }, `${dir}/none`)).name, "builtin");
  });
});

Deno.test("SandboxLayout maps share paths to guest paths and refuses others", () => {
  const l = new SandboxLayout("/run/joey/", "sb");
  assertEquals(l.rootfs("c"), "/run/joey/sb/shared/c/rootfs");
  assertEquals(l.guestPath(l.rootfs("c")), `${GUEST_SHARE_DIR}/c/rootfs`);
  assertEquals(l.guestPath(l.volume("c", 2)), `${GUEST_SHARE_DIR}/c/volumes/2`);
  assertThrows(() => l.guestPath("/etc/passwd"));
});

Deno.test({
  name: "cleanupSandboxDir() undoes a persisted state, and leaves one whose shim still runs",
  ...opts,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "joey-state-" });
    const layout = new SandboxLayout(stateDir, `unit-${Math.random().toString(36).slice(2, 7)}`);
    const src = await Deno.makeTempDir({ prefix: "joey-src-" });
    try {
      await Deno.mkdir(layout.vmDir, { recursive: true });
      const point = layout.rootfs("c");
      await Deno.mkdir(point, { recursive: true });
      mountWithOptions("bind", src, point, ["rbind"]);
      const daemon = await spawnDaemon("sleeper", ["sleep", "60"], `${layout.root}/sleep.log`);
      const cgroups = await createSandboxCgroup(layout.sandboxId);
      const state = {
        ...emptyState(layout.sandboxId),
        daemons: [{ name: daemon.name, pid: daemon.pid, startTime: daemon.startTime }],
        mounts: { c: [point] },
        cgroups,
        // A live owner other than this process: the sandbox is still served.
        owner: { name: "shim", pid: daemon.pid, startTime: daemon.startTime },
      };
      await saveState(layout.stateFile, state);
      assertEquals(await cleanupSandboxDir(stateDir, layout.sandboxId), false);
      assert(await isAlive(daemon), "a served sandbox is left alone");

      await saveState(layout.stateFile, { ...state, owner: null });
      assertEquals(await cleanupSandboxDir(stateDir, layout.sandboxId), true);
      assertEquals(await daemon.exited.then(() => "exited"), "exited");
      assertEquals(await mountsUnder(layout.root), []);
      for (const cg of cgroups) {
        assert(!(await Deno.stat(cg).then(() => true, () => false)), `cgroup ${cg} removed`);
      }
      assert(!(await Deno.stat(layout.root).then(() => true, () => false)), "state dir removed");
      // Again: nothing to do, no error.
      assertEquals(await cleanupSandboxDir(stateDir, layout.sandboxId), false);
      // A directory without state that is not a sandbox's (an id such as "runc") stays.
      await Deno.mkdir(`${stateDir}/runc/k8s.io`, { recursive: true });
      assertEquals(await cleanupSandboxDir(stateDir, "runc"), false);
      assert(await Deno.stat(`${stateDir}/runc/k8s.io`).then(() => true, () => false), "kept");
    } finally {
      for (const m of await mountsUnder(stateDir)) {
        await new Deno.Command("umount", { args: ["-l", m] }).output();
      }
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      await Deno.remove(src, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("consoleFields() makes the agent's container and exec ids log fields; other lines keep the sandbox only", () => {
  const line = "joey-agent: container=c1 exec=e-2 exited with status 3";
  assertEquals(consoleFields("sb", line), { sandbox: "sb", container: "c1", exec: "e-2", line });
  const init = "joey-agent: container=c1 started";
  assertEquals(consoleFields("sb", init), { sandbox: "sb", container: "c1", line: init });
  const other = "joey-agent: ready on vsock port 1024";
  assertEquals(consoleFields("sb", other), { sandbox: "sb", line: other });
  const kernel = "[    0.000000] Linux version 6.1 container=x";
  assertEquals(consoleFields("sb", kernel), { sandbox: "sb", line: kernel });
});
