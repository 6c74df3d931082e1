/**
 * Unit tests of the linux-container pieces that need no OCI runtime:
 * cgroup parsing, Metrics encoding from cgroup files (v1 and v2, in a fake
 * cgroup tree), the process state machine and the pid namespace check.
 */
import { assert, assertEquals, assertThrows } from "../../lib/assert.ts";
import { withTempDir } from "../../lib/tmp.ts";
import { JoeyError } from "../../../src/errors.ts";
import { messageType } from "../../../src/proto/registry.ts";
import {
  metrics,
  parseBlkio,
  parseFlatKeyed,
  parseProcCgroup,
} from "../../../src/runtime/linux_container/cgroup.ts";
import { hasOwnPidNamespace } from "../../../src/runtime/linux_container/container.ts";
import { Process } from "../../../src/runtime/linux_container/process.ts";

Deno.test("parseProcCgroup() maps v1 controllers and finds the v2 path on unified hosts", () => {
  const text = "4:memory:/a/b\n2:cpuacct:/a/b\n1:name=systemd:/a/b\n0::/a/b\n";
  const v1 = parseProcCgroup(text, false);
  assert(v1.version === 1);
  assertEquals(v1.dirs.get("memory"), "/sys/fs/cgroup/memory/a/b");
  assertEquals(v1.dirs.get("systemd"), "/sys/fs/cgroup/systemd/a/b");
  const v2 = parseProcCgroup("0::/x/y\n", true);
  assertEquals(v2, { version: 2, dir: "/sys/fs/cgroup/x/y" });
});

Deno.test("parseBlkio() and parseFlatKeyed() read cgroup file formats", () => {
  assertEquals(parseBlkio("8:0 Read 10\n8:0 Write 20\nTotal 30\n8:16 5\n"), [
    { op: "Read", device: "", major: "8", minor: "0", value: "10" },
    { op: "Write", device: "", major: "8", minor: "0", value: "20" },
    { op: "", device: "", major: "8", minor: "16", value: "5" },
  ]);
  const kv = parseFlatKeyed("cache 4096\nrss 8192\nbogus x\n");
  assertEquals([...kv], [["cache", "4096"], ["rss", "8192"]]);
});

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
}

Deno.test("metrics() encodes a v1 cgroup as io.containerd.cgroups.v1.Metrics", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(`${dir}/memory`, {
      "memory.stat": "cache 4096\nrss 8192\npgfault 77\ntotal_pgfault 78\n",
      "memory.usage_in_bytes": "12288\n",
      "memory.limit_in_bytes": "9223372036854771712\n",
      "memory.max_usage_in_bytes": "16384\n",
      "memory.failcnt": "2\n",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    });
    await writeFiles(`${dir}/pids`, { "pids.current": "3\n", "pids.max": "max\n" });
    await writeFiles(`${dir}/cpuacct`, {
      "cpuacct.usage": "5000000\n",
      "cpuacct.stat": "user 2\nsystem 1\n",
      "cpuacct.usage_percpu": "3000000 2000000 \n",
    });
    await writeFiles(`${dir}/cpu`, {
      "cpu.stat": "nr_periods 4\nnr_throttled 1\nthrottled_time 9\n",
    });
    // A block device this host has, so its name can be resolved.
    const dev = (await Array.fromAsync(Deno.readDir("/sys/dev/block")))[0]?.name ?? "8:0";
    const devName = /^DEVNAME=(.+)$/m.exec(
      await Deno.readTextFile(`/sys/dev/block/${dev}/uevent`).catch(() => ""),
    )?.[1];
    await writeFiles(`${dir}/blkio`, {
      "blkio.throttle.io_service_bytes_recursive": `${dev} Read 512\n`,
    });
    const dirs = new Map(
      ["memory", "pids", "cpuacct", "cpu", "blkio"].map((c) => [c, `${dir}/${c}`]),
    );
    const any = await metrics({ version: 1, dirs });
    assertEquals(any.typeUrl, "io.containerd.cgroups.v1.Metrics");
    // deno-lint-ignore no-explicit-any
    const m = messageType<any>(any.typeUrl).decode(any.value);
    assertEquals([m.memory.cache, m.memory.rss, m.memory.pg_fault, m.memory.total_pg_fault], [
      4096,
      8192,
      77,
      78,
    ]);
    assertEquals(m.memory.usage.usage, 12288);
    assertEquals(m.memory.usage.max, 16384);
    assertEquals(m.memory.usage.failcnt, 2);
    assert(m.memory.usage.limit > 9.2e18, "64-bit limit survives");
    assertEquals(m.memory_oom_control.oom_kill, 1);
    assertEquals([m.pids.current, m.pids.limit], [3, 0]);
    assertEquals(m.cpu.usage.total, 5_000_000);
    assertEquals(m.cpu.usage.user, 20_000_000); // 2 ticks of 10 ms
    assertEquals(m.cpu.usage.kernel, 10_000_000);
    assertEquals(m.cpu.usage.per_cpu, [3_000_000, 2_000_000]);
    assertEquals(m.cpu.throttling.throttled_periods, 1);
    assertEquals(m.blkio.io_service_bytes_recursive[0].value, 512);
    assertEquals(m.blkio.io_service_bytes_recursive[0].device, devName ? `/dev/${devName}` : "");
  });
});

Deno.test("metrics() encodes a v2 cgroup as io.containerd.cgroups.v2.Metrics", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "cpu.stat": "usage_usec 100\nuser_usec 60\nsystem_usec 40\n",
      "memory.stat": "anon 4096\nfile 8192\npgfault 5\n",
      "memory.current": "12288\n",
      "memory.max": "max\n",
      "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
      "pids.current": "2\n",
      "pids.max": "50\n",
      "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    });
    const any = await metrics({ version: 2, dir });
    assertEquals(any.typeUrl, "io.containerd.cgroups.v2.Metrics");
    // deno-lint-ignore no-explicit-any
    const m = messageType<any>(any.typeUrl).decode(any.value);
    assertEquals([m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec], [100, 60, 40]);
    assertEquals([m.memory.anon, m.memory.file, m.memory.usage, m.memory.usage_limit], [
      4096,
      8192,
      12288,
      0,
    ]);
    assertEquals([m.memory_events.max, m.memory_events.oom_kill], [2, 1]);
    assertEquals([m.pids.current, m.pids.limit], [2, 50]);
    assertEquals(m.io.usage[0], { major: 8, minor: 0, rbytes: 10, wbytes: 20, rios: 1, wios: 2 });
  });
});

Deno.test("Process rejects illegal transitions as the runc shim does (Unknown; NotFound once finished)", () => {
  const p = new Process("c1", "e1", "/b", { stdin: "", stdout: "", stderr: "", terminal: false });
  p.expect("start", "created");
  const err = assertThrows(() => p.expect("pause", "running"), JoeyError);
  assertEquals(err.kind, "Unknown");
  assert(err.message.includes(`exec "e1" of container "c1"`), err.message);
  p.setExited(137);
  assertEquals(p.snapshot().status, "stopped");
  assertEquals(p.exitInfo().exitStatus, 137);
  assertEquals(assertThrows(() => p.expectAlive(), JoeyError).kind, "NotFound");
});

Deno.test("hasOwnPidNamespace() is false for shared or joined pid namespaces", () => {
  assert(hasOwnPidNamespace({ linux: { namespaces: [{ type: "pid" }] } }));
  assert(!hasOwnPidNamespace({ linux: { namespaces: [{ type: "pid", path: "/proc/1/ns/pid" }] } }));
  assert(!hasOwnPidNamespace({ linux: { namespaces: [{ type: "mount" }] } }));
  assert(!hasOwnPidNamespace({}));
});
