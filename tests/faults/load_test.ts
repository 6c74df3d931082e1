/**
 * Load: 100 create/start/wait/delete cycles of linux-container through a
 * real containerd (`ctr run --rm`, which creates, starts, waits for the exit
 * and deletes task and container), then every kind of leak counted
 * (tests/faults/leaks.ts). A second test does 50 cycles in node mode, where
 * one shim daemon serves every cycle, and checks that daemon's open fds and
 * RSS do not grow with the cycles. Bounded: each ctr call has a timeout and
 * the whole run a deadline. 20 cycles with virt-container:
 * tests/faults/virt_faults_test.ts.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME } from "../containerd/harness.ts";
import { runRm } from "../containerd/scenarios.ts";
import { withTempDir } from "../lib/tmp.ts";
import { describeLeaks, fdCount, leaks, shimDaemons } from "./leaks.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const CYCLES = Number(Deno.env.get("JOEY_LOAD_CYCLES") ?? 100);
const DEADLINE_MS = 420_000;

async function cycles(
  c: Containerd,
  n: number,
  marker: string,
  each?: (i: number) => Promise<void>,
): Promise<string[]> {
  const ids: string[] = [];
  const start = Date.now();
  for (let i = 0; i < n; i++) {
    assert(Date.now() - start < DEADLINE_MS, `only ${i} cycles within ${DEADLINE_MS} ms`);
    const id = `load-${i}-${Math.random().toString(36).slice(2, 6)}`;
    ids.push(id);
    const r = await runRm(c, {
      runtime: JOEY_RUNTIME,
      id,
      argv: ["sh", "-c", `exit $((${i} % 7)) # ${marker}`],
      timeoutMs: 30_000,
    });
    // ctr run exits with the task's status: proves wait delivered it.
    assertEquals(r.code, i % 7, `cycle ${i}: ${r.stderr}`);
    await each?.(i);
  }
  console.log(`${n} cycles in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  return ids;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? -1);
}

Deno.test({
  name:
    `linux-container: ${CYCLES} ctr run --rm cycles leave no process, mount, cgroup, socket or state`,
  ...opts,
  fn: async () => {
    const c = await Containerd.start();
    try {
      const marker = `joeyload${Date.now()}`;
      const ids = await cycles(c, CYCLES, marker);
      const report = await leaks(c, ids, marker);
      assertEquals(describeLeaks(report), "", "leaks after the cycles");
    } finally {
      await c.stop();
    }
  },
});

Deno.test({
  name: "linux-container node mode: one shim daemon over 50 cycles keeps its fds and RSS flat",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/joey.toml`, `[runtime]\nshim_mode = "node"\n`);
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
      try {
        const marker = `joeynode${Date.now()}`;
        // Warm-up: the daemon's lazily made resources (codecs, event client).
        await cycles(c, 5, marker);
        const [daemon] = await shimDaemons(c);
        assert(daemon, "a node shim daemon runs");
        // Kept alive by a running container so the idle daemon does not exit.
        const keep = await c.ctr(
          [
            "run",
            "-d",
            "--runtime",
            JOEY_RUNTIME,
            IMAGE_NAME,
            "keeper",
            "sh",
            "-c",
            `sleep 3600 # ${marker}`,
          ],
        );
        assertEquals(keep.code, 0, keep.stderr);
        assertEquals(
          (await c.ctr(["tasks", "ls"])).stdout.includes("RUNNING"),
          true,
          "the keeper runs",
        );
        const fds0 = await fdCount(daemon);
        const rss0 = await rssKiB(daemon);
        const ids = await cycles(c, 50, marker);
        assertEquals(await shimDaemons(c), [daemon], "the same daemon served every cycle");
        const fds1 = await fdCount(daemon);
        const rss1 = await rssKiB(daemon);
        console.log(`node shim: fds ${fds0} -> ${fds1}, RSS ${rss0} -> ${rss1} KiB`);
        // A few fds of slack for lazily opened event/log connections.
        assert(fds1 <= fds0 + 3, `shim fds grew from ${fds0} to ${fds1} over 50 cycles`);
        assert(rss1 < rss0 + 64 * 1024, `shim RSS grew by ${rss1 - rss0} KiB`);
        await c.ctr(["tasks", "kill", "-s", "SIGKILL", "keeper"]);
        await c.ctr(["tasks", "delete", "-f", "keeper"], { timeoutMs: 15_000 });
        await c.ctr(["containers", "delete", "keeper"]);
        const report = await leaks(c, [...ids, "keeper"], marker);
        report.shims = []; // the idle node daemon may linger for its idle timeout
        report.sockets = [];
        assertEquals(describeLeaks(report), "", "leaks after the cycles");
      } finally {
        await c.stop();
      }
    });
  },
});
