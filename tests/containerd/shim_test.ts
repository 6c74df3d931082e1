/**
 * The shim through a real containerd 1.6 and ctr: every scenario runs
 * against joey (linux-container runtime) and against containerd's own
 * io.containerd.runc.v2, so expected behaviour comes from the reference
 * shim, not from guesses.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { JOEY_RUNTIME, RUNC_RUNTIME } from "./harness.ts";
import {
  deleteStopped,
  execKeepsStreamsApart,
  killAll,
  killTask,
  metricsText,
  pauseResume,
  psWithExec,
  runDetached,
  runRm,
  spawnRunRm,
  ttyExec,
  ttyRun,
} from "./scenarios.ts";
import { SharedContainerd } from "./shared.ts";

const RUNTIMES = [["joey", JOEY_RUNTIME], ["runc", RUNC_RUNTIME]] as const;
const opts = { sanitizeOps: false, sanitizeResources: false };

const shared = new SharedContainerd();
const containerd = () => shared.get();
const newId = (r: string, what: string) => shared.newId(r, what);

for (const [name, runtime] of RUNTIMES) {
  Deno.test({
    name: `${name}: ctr run --rm keeps stdout and stderr apart and returns the exit status`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "run");
      const r = await runRm(c, {
        runtime,
        id,
        argv: ["sh", "-c", "echo out; echo err >&2; exit 3"],
      });
      assertEquals(r.stdout, "out\n", `stdout: ${r.stdout} stderr: ${r.stderr}`);
      assertIncludes(r.stderr, "err\n");
      assert(!r.stdout.includes("err"), "stderr leaked into stdout");
      assertEquals(r.code, 3, r.stderr);
    },
  });

  Deno.test({
    name: `${name}: run -d, exec with and without a tty, ps, pause/resume, metrics, kill, delete`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "life");
      await runDetached(c, {
        runtime,
        id,
        argv: ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"],
      });
      await execKeepsStreamsApart(c, id);
      await ttyExec(c, id, "tty", "/dev/pts/");
      await psWithExec(c, id);
      await pauseResume(c, id);
      await metricsText(c, id);
      await killTask(c, id, "TERM");
      await deleteStopped(c, id, 7);
    },
  });

  Deno.test({
    name: `${name}: kill -a stops every process of the container`,
    ...opts,
    fn: async () => killAll(await containerd(), { runtime, id: newId(name, "killall") }),
  });

  Deno.test({
    name: `${name}: ctr run -t on a pseudo-terminal echoes input and answers it`,
    ...opts,
    fn: async () => ttyRun(await containerd(), runtime, newId(name, "tty")),
  });

  Deno.test({
    name: `${name}: stdin reaches the container and closing it delivers EOF`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "stdin");
      const data = "line one\nline two\n" + "x".repeat(100_000) + "\n";
      // ctr 1.6 attaches its stdin to the task (it has no -i flag) and calls
      // CloseIO when its stdin ends, but only if that happens after the task
      // exists (it arms the call after creating it): so the data is typed
      // once the task runs, as a person at a pipe would.
      const child = spawnRunRm(c, { runtime, id, argv: ["cat"] }, "piped");
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      try {
        await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(data));
        await w.close();
        const out = await child.output();
        assertEquals(new TextDecoder().decode(out.stdout), data);
        assertEquals(
          out.code,
          0,
          `cat ends at EOF with status 0: ${new TextDecoder().decode(out.stderr)}`,
        );
      } finally {
        clearTimeout(timer);
      }
    },
  });

  Deno.test({
    name: `${name}: 20 containers started concurrently finish with the right output and exit codes`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const runs = Array.from({ length: 20 }, (_, i) => {
        const id = newId(name, `par${i}`);
        return runRm(c, { runtime, id, argv: ["sh", "-c", `echo hello-${i}; exit ${i}`] });
      });
      const results = await Promise.all(runs);
      results.forEach((r, i) => {
        assertEquals(r.stdout, `hello-${i}\n`, `container ${i}: ${r.stderr}`);
        assertEquals(r.code, i, `container ${i}: ${r.stderr}`);
      });
    },
  });
}

shared.afterwardsTest(
  "afterwards: no shim processes, sockets, mounts, cgroups or runc state are left behind",
);
