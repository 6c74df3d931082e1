/**
 * The agent in host test mode: the static binary the VM runs, and its
 * ASan+UBSan build, serve the agent API on a unix socket inside a private
 * mount+pid namespace. Containers are real: a busybox rootfs (bind-mounted
 * by a CreateSandbox storage at the documented share path), namespaces,
 * pivot_root, a cgroup v2 group, pipes or a pty.
 */
import { AgentClient, type OciSpec } from "../../src/agent/mod.ts";
import { Code, TtrpcError } from "../../src/ttrpc/mod.ts";
import { encodeFrame } from "../../src/ttrpc/frame.ts";
import { assert, assertEquals, assertIncludes, assertRejects } from "../lib/assert.ts";
import { RawPeer } from "../ttrpc/raw.ts";
import {
  AGENT_BIN,
  AGENT_SAN_BIN,
  type HostAgent,
  hostModeUnavailable,
  process,
  spec,
  text,
  withHostAgent,
} from "./fixture.ts";

const skip = hostModeUnavailable();
if (skip) console.log(`agent host-mode tests skipped: ${skip}`);

async function code(p: Promise<unknown>): Promise<number> {
  const err = await assertRejects(() => p, TtrpcError);
  return err.code;
}

/** Runs fn against a fresh host-mode agent whose busybox tree also has a non-root user. */
async function withAgent(bin: string, fn: (a: HostAgent, rootfs: string) => Promise<void>) {
  await withHostAgent(bin, async (a, rootfs) => {
    await Deno.writeTextFile(
      `${rootfs}/etc/passwd`,
      "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    );
    await fn(a, rootfs);
  });
}

/** A storage that bind-mounts the busybox tree at <share>/<cid>/rootfs. */
const rootfsStorage = (a: HostAgent, rootfs: string, cid: string) => ({
  driver: "bind",
  source: rootfs,
  fstype: "bind",
  options: ["rbind"],
  mount_point: `${a.shareDir}/${cid}/rootfs`,
});

async function run(c: AgentClient, cid: string, execId = "") {
  const [out, err, status] = await Promise.all([
    c.readAll(cid, execId, "stdout"),
    c.readAll(cid, execId, "stderr"),
    c.waitProcess(cid, execId),
  ]);
  return { out: text(out), err: text(err), status };
}

/** The spec with linux.sysctl set (an IPC-namespaced key, so the host is untouched). */
function withSysctl(sysctl: Record<string, string>, s: OciSpec): OciSpec {
  return { ...s, Linux: { ...s.Linux, Sysctl: sysctl } };
}

/** Reads stdout until it contains needle; EOF before that fails. */
async function readUntil(c: AgentClient, cid: string, eid: string, needle: string, sofar: string) {
  while (!sofar.includes(needle)) {
    const chunk = await c.readStdout(cid, eid);
    if (!chunk.length) {
      throw new Error(`EOF before ${JSON.stringify(needle)}; got ${JSON.stringify(sofar)}`);
    }
    sofar += text(chunk);
  }
  return sofar;
}

async function scenario(bin: string) {
  await withAgent(bin, async (a, rootfs) => {
    const c = a.client;
    assertEquals(await c.check(), "SERVING");
    assertEquals(await c.version(), "0.1.0");
    const details = await c.getGuestDetails();
    assertEquals(details.agent_details?.init_daemon, false);
    assert(details.agent_details?.storage_handlers.includes("virtio-fs"));

    await c.createSandbox({ hostname: "sbx", storages: [], sandbox_id: "s1" });
    assertEquals(await code(c.createSandbox({})), Code.AlreadyExists);

    // stdio round trip with EOF on both sides, exit code, env, cwd, rlimit, hostname.
    await c.createContainer({
      container_id: "c1",
      storages: [rootfsStorage(a, rootfs, "c1")],
      OCI: withSysctl(
        { "kernel.msgmax": "4321" },
        spec(process([
          "sh",
          "-c",
          [
            "echo out:$(pwd):$FOO:$(hostname):$(ulimit -n)",
            "echo err >&2",
            "read line; echo got:$line",
            "cat >/dev/null; echo stdin-eof",
            "cat /proc/sys/kernel/msgmax",
            "(echo 1 >/proc/sys/kernel/msgmax) 2>/dev/null && echo sys-rw || echo sys-ro",
            "exit 3",
          ].join("; "),
        ], {
          Env: ["PATH=/bin", "FOO=bar"],
          Cwd: "/tmp",
          Rlimits: [{ Type: "RLIMIT_NOFILE", Hard: 123, Soft: 123 }],
        })),
      ),
    });
    // The process waits for StartContainer: no output yet, no exit.
    assertEquals(
      await code(c.createContainer({
        container_id: "c1",
        OCI: spec(process(["true"])),
      })),
      Code.AlreadyExists,
    );
    assertEquals(await code(c.execProcess("c1", "e0", process(["true"]))), Code.FailedPrecondition);
    await c.startContainer("c1");
    assertEquals(await code(c.startContainer("c1")), Code.FailedPrecondition);
    assertEquals(await c.writeStdin("c1", "", new TextEncoder().encode("hello\nmore")), 10);
    await c.closeStdin("c1", "");
    const r1 = await run(c, "c1");
    assertEquals(r1.out, "out:/tmp:bar:joey-test:123\ngot:hello\nstdin-eof\n4321\nsys-ro\n");
    assertEquals(r1.err, "err\n");
    assertEquals(r1.status, 3);
    // EOF stays EOF, the status stays until removal.
    assertEquals((await c.readStdout("c1", "")).length, 0);
    assertEquals(await c.waitProcess("c1", ""), 3);
    assertEquals(await code(c.signalProcess("c1", "", 15)), Code.NotFound);
    assertEquals(await code(c.writeStdin("c1", "", new Uint8Array([1]))), Code.FailedPrecondition);
    await c.removeContainer("c1");
    assertEquals(await code(c.waitProcess("c1", "")), Code.NotFound);

    // A long-running container: exec, namespaces, tty + resize, pause/resume,
    // update, stats, signals.
    await c.createContainer({
      container_id: "c2",
      storages: [rootfsStorage(a, rootfs, "c2")],
      OCI: spec(
        process(["sh", "-c", "trap 'echo term; exit 7' TERM; while true; do sleep 0.05; done"]),
      ),
    });
    await c.startContainer("c2");
    await c.execProcess(
      "c2",
      "e1",
      process([
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; echo $(ls /dev)",
      ]),
    );
    const e1 = await run(c, "c2", "e1");
    assertEquals(e1.status, 0);
    const [pid, init, host, dev] = e1.out.split("\n");
    assert(
      Number(pid) > 1 && Number(pid) < 100,
      `exec pid ${pid} is in the container's pid namespace`,
    );
    assertEquals(init, "sh -c trap 'echo term; exit 7' TERM; while true; do sleep 0.05; done ");
    assertEquals(host, "joey-test");
    for (const node of ["null", "zero", "urandom", "tty", "pts", "shm", "ptmx"]) {
      assertIncludes(dev ?? "", node);
    }
    // The exec is gone once waited and drained.
    assertEquals(await code(c.waitProcess("c2", "e1")), Code.NotFound);
    assertEquals(
      await code(c.execProcess("c2", "e2", process(["/no/such/program"]))),
      Code.Internal,
    );
    assertEquals(await code(c.execProcess("c2", "e2", process([]))), Code.InvalidArgument);

    // Terminal: one stream, the size from the spec, then TtyWinResize.
    await c.execProcess(
      "c2",
      "t1",
      process(["sh", "-c", "tty; stty size; read x; stty size; echo x=$x"], {
        Terminal: true,
        ConsoleSize: { Height: 24, Width: 80 },
      }),
    );
    let tty = await readUntil(c, "c2", "t1", "24 80", "");
    await c.ttyWinResize("c2", "t1", 30, 100);
    await c.writeStdin("c2", "t1", new TextEncoder().encode("typed\n"));
    tty = await readUntil(c, "c2", "t1", "x=typed", tty);
    assertIncludes(tty, "30 100");
    // The pty comes from the container's own devpts: the process can name it.
    assertIncludes(tty, "/dev/pts/0");
    assertEquals((await c.readStderr("c2", "t1")).length, 0, "a terminal has no stderr");
    assertEquals(await c.waitProcess("c2", "t1"), 0);
    assertEquals(await code(c.ttyWinResize("c2", "", 1, 1)), Code.FailedPrecondition);

    // A process killed by a signal reports 128 + signal.
    await c.execProcess("c2", "k1", process(["sleep", "30"]));
    await c.signalProcess("c2", "k1", 9);
    assertEquals(await c.waitProcess("c2", "k1"), 137);

    // Pause/resume through the cgroup v2 freezer.
    const cg = `${a.cgroupRoot}/joey/c2`;
    await c.pauseContainer("c2");
    assertIncludes(await Deno.readTextFile(`${cg}/cgroup.events`), "frozen 1");
    assertEquals(await code(c.pauseContainer("c2")), Code.FailedPrecondition);
    assertEquals(await code(c.execProcess("c2", "e3", process(["true"]))), Code.FailedPrecondition);
    await c.resumeContainer("c2");
    assertIncludes(await Deno.readTextFile(`${cg}/cgroup.events`), "frozen 0");
    assertEquals(await code(c.resumeContainer("c2")), Code.FailedPrecondition);

    // Update and stats: limits land in the cgroup where the controller
    // exists; without it the agent says so (FailedPrecondition).
    const hasMemory = (await Deno.readTextFile(`${cg}/../cgroup.subtree_control`)).includes(
      "memory",
    );
    const update = c.updateContainer("c2", { Memory: { Limit: 64 << 20 }, Pids: { Limit: 50 } });
    if (hasMemory) {
      await update;
      assertEquals((await Deno.readTextFile(`${cg}/memory.max`)).trim(), String(64 << 20));
    } else {
      assertEquals(await code(update), Code.FailedPrecondition);
      console.log(
        "  (no memory controller in this cgroup2 hierarchy: update checked for its error)",
      );
    }
    assertEquals(await code(c.updateContainer("c2", {})), Code.InvalidArgument);
    const stats = await c.statsContainer("c2");
    assert((stats.cgroup_stats?.cpu_stats?.cpu_usage?.total_usage ?? 0) > 0, "cpu usage counted");
    if (hasMemory) assertEquals(stats.cgroup_stats?.memory_stats?.usage?.limit, 64 << 20);

    // Output is bounded but lossless: 3 MiB written before anyone reads.
    await c.execProcess("c2", "big", process(["head", "-c", "3145728", "/dev/zero"]));
    await new Promise((r) => setTimeout(r, 200));
    const big = await c.readAll("c2", "big", "stdout");
    assertEquals(big.length, 3145728);
    assertEquals(await c.waitProcess("c2", "big"), 0);

    // A client that vanishes while its Read is held neither disturbs the
    // agent nor takes the data a later reader gets.
    const other = await AgentClient.dialUnix(a.socket);
    const held = other.readStdout("c2", "").catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    other.close();
    await held;

    // SIGTERM to init runs its trap.
    await c.signalProcess("c2", "", 15);
    const r2 = await run(c, "c2");
    assertEquals(r2.status, 7);
    assertIncludes(r2.out, "term");
    await c.removeContainer("c2");

    // Identity: user, groups, capabilities, no_new_privileges, read-only root.
    await c.createContainer({
      container_id: "c3",
      storages: [rootfsStorage(a, rootfs, "c3")],
      OCI: spec(
        process([
          "sh",
          "-c",
          "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; touch /x 2>&1 || echo ro",
        ], {
          User: { UID: 1000, GID: 1000, AdditionalGids: [2000] },
          Capabilities: { Bounding: ["CAP_KILL"], Effective: [], Permitted: [] },
          NoNewPrivileges: true,
        }),
        { Root: { Path: "", Readonly: true } },
      ),
    });
    await c.startContainer("c3");
    const r3 = await run(c, "c3");
    assertEquals(r3.status, 0);
    const lines = r3.out.trim().split("\n");
    assertEquals(lines.slice(0, 3), ["1000", "1000", "1000 2000"]);
    assertIncludes(r3.out, "CapEff:\t0000000000000000");
    assertIncludes(r3.out, "CapBnd:\t0000000000000020");
    assertIncludes(r3.out, "NoNewPrivs:\t1");
    assertIncludes(r3.out, "ro");
    await c.removeContainer("c3");

    // A container removed while running: its processes die, its cgroup goes.
    await c.createContainer({
      container_id: "c4",
      storages: [rootfsStorage(a, rootfs, "c4")],
      OCI: spec(process(["sleep", "60"])),
    });
    await c.startContainer("c4");
    const waiting = c.waitProcess("c4", "");
    await c.removeContainer("c4", 5);
    assertEquals(await waiting, 137);
    await assertRejects(() => Deno.stat(`${a.cgroupRoot}/joey/c4`));

    await c.destroySandbox();
    assertEquals(await code(c.statsContainer("c2")), Code.NotFound);
  });
}

async function badInput(bin: string) {
  await withAgent(bin, async (a) => {
    const c = a.client;
    assertEquals(await code(c.startContainer("nope")), Code.NotFound);
    assertEquals(await code(c.removeContainer("nope")), Code.NotFound);
    assertEquals(await code(c.waitProcess("nope", "")), Code.NotFound);
    assertEquals(await code(c.readStdout("nope", "x")), Code.NotFound);
    assertEquals(
      await code(c.createContainer({ container_id: "", OCI: spec(process(["true"])) })),
      Code.InvalidArgument,
    );
    assertEquals(
      await code(c.createContainer({ container_id: "../x", OCI: spec(process(["true"])) })),
      Code.InvalidArgument,
    );
    assertEquals(
      await code(c.createContainer({ container_id: "n", OCI: spec(process([])) })),
      Code.InvalidArgument,
    );
    assertEquals(
      await code(c.createContainer({ container_id: "n", OCI: spec(process(["true"])) })),
      Code.NotFound,
      "rootfs missing",
    );
    assertEquals(
      await code(c.createContainer({
        container_id: "n",
        OCI: spec(process(["true"]), { Linux: { Namespaces: [{ Type: "bogus" }] } }),
      })),
      Code.InvalidArgument,
    );
    assertEquals(
      await code(
        c.createSandbox({
          storages: [{
            driver: "bind",
            source: "/nonexistent",
            fstype: "bind",
            mount_point: "relative",
          }],
        }),
      ),
      Code.InvalidArgument,
    );

    const peer = await RawPeer.connect(a.socket);
    try {
      // Garbage where a CreateContainerRequest should be.
      await peer.sendRequest(
        1,
        "grpc.AgentService",
        "CreateContainer",
        new Uint8Array([0x0a, 0xff, 0xff]),
      );
      assertEquals((await peer.readResponse())?.status?.code, Code.InvalidArgument);
      await peer.sendRequest(3, "grpc.AgentService", "NoSuchMethod", new Uint8Array());
      assertEquals((await peer.readResponse())?.status?.code, Code.Unimplemented);
      await peer.sendRequest(4, "grpc.Health", "Check", new Uint8Array());
      assertEquals(
        (await peer.readResponse())?.status?.code,
        Code.InvalidArgument,
        "even stream id",
      );
      // A garbage envelope.
      await peer.writeAll(encodeFrame(5, 1, 0, new Uint8Array([0xff, 0xff, 0xff])));
      assertEquals((await peer.readResponse())?.status?.code, Code.InvalidArgument);
      // An oversized frame is skipped and answered; the connection lives on.
      const big = new Uint8Array(10 + (5 << 20));
      new DataView(big.buffer).setUint32(0, 5 << 20);
      new DataView(big.buffer).setUint32(4, 7);
      big[8] = 1;
      await peer.writeAll(big);
      const over = await peer.readResponse();
      assertEquals([over?.streamId, over?.status?.code], [7, Code.ResourceExhausted]);
      await peer.sendRequest(9, "grpc.Health", "Check", new Uint8Array());
      const ok = await peer.readResponse();
      assertEquals([ok?.streamId, ok?.status], [9, null]);
    } finally {
      peer.close();
    }
    assertEquals(await c.check(), "SERVING");
  });
}

/** Open descriptors of a process. */
const fdCount = (pid: number) => [...Deno.readDirSync(`/proc/${pid}/fd`)].length;

async function noLeaks(bin: string) {
  await withAgent(bin, async (a, rootfs) => {
    const c = a.client;
    const cycle = async (i: number) => {
      const id = `l${i}`;
      await c.createContainer({
        container_id: id,
        storages: [rootfsStorage(a, rootfs, id)],
        OCI: spec(
          process(["sh", "-c", "read l; echo x; tty; echo y >&2"], { Terminal: i % 2 === 1 }),
        ),
      });
      await c.startContainer(id);
      await c.execProcess(id, "e", process(["true"]));
      assertEquals((await run(c, id, "e")).status, 0);
      await c.closeStdin(id, "");
      const init = await run(c, id);
      assertEquals(init.status, 0);
      // An init's terminal comes from the container's devpts as well.
      if (i % 2 === 1) assertIncludes(init.out, "/dev/pts/0");
      // An init that has exited cannot be exec'd into.
      assertEquals(
        await code(c.execProcess(id, "late", process(["true"]))),
        Code.FailedPrecondition,
      );
      await c.removeContainer(id);
    };
    await cycle(0);
    await cycle(1);
    const before = fdCount(a.pid);
    for (let i = 2; i < 32; i++) await cycle(i);
    assertEquals(fdCount(a.pid), before, "descriptors after 30 more container lifecycles");
    assertEquals([...Deno.readDirSync(`${a.cgroupRoot}/joey`)].filter((e) => e.isDirectory), []);
  });
}

for (const [name, bin] of [["static", AGENT_BIN], ["asan+ubsan", AGENT_SAN_BIN]] as const) {
  Deno.test({
    name: `agent (${name}, host mode): containers, exec, stdio, tty, pause, update, stats, remove`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => scenario(bin),
  });
  Deno.test({
    name:
      `agent (${name}, host mode): malformed and out-of-order requests get errors, serving goes on`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => badInput(bin),
  });
  Deno.test({
    name: `agent (${name}, host mode): 30 container lifecycles leave no descriptors or cgroups`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => noLeaks(bin),
  });
}
