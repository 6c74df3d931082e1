/**
 * The shim through a real containerd 1.6 and ctr: every scenario runs
 * against joey (linux-container runtime) and against containerd's own
 * io.containerd.runc.v2, so expected behaviour comes from the reference
 * shim, not from guesses.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { type Containerd, IMAGE_NAME, JOEY_RUNTIME, RUNC_RUNTIME } from "./harness.ts";
import { PtySession } from "./pty.ts";
import { SharedContainerd } from "./shared.ts";

const RUNTIMES = [["joey", JOEY_RUNTIME], ["runc", RUNC_RUNTIME]] as const;
const opts = { sanitizeOps: false, sanitizeResources: false };

const shared = new SharedContainerd();
const containerd = () => shared.get();
const newId = (r: string, what: string) => shared.newId(r, what);

/** Deletes a stopped task; returns the exit code ctr 1.6 reports (it warns on non-zero). */
async function deletedExitCode(c: Containerd, id: string): Promise<number> {
  const del = await c.ctr(["tasks", "delete", id]);
  assertEquals(del.code, 0, del.stderr);
  const m = /exit with non-zero exit code (\d+)/.exec(del.stderr);
  return m ? Number(m[1]) : 0;
}

for (const [name, runtime] of RUNTIMES) {
  Deno.test({
    name: `${name}: ctr run --rm keeps stdout and stderr apart and returns the exit status`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "run");
      const r = await c.ctr([
        "run",
        "--rm",
        "--runtime",
        runtime,
        IMAGE_NAME,
        id,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ]);
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
      const run = await c.ctr([
        "run",
        "-d",
        "--runtime",
        runtime,
        IMAGE_NAME,
        id,
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
      ]);
      assertEquals(run.code, 0, run.stderr);
      await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);

      const exec = await c.ctr([
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        id,
        "sh",
        "-c",
        "echo in-exec; echo to-err >&2; exit 4",
      ]);
      assertEquals(exec.stdout, "in-exec\n");
      assertIncludes(exec.stderr, "to-err");
      assertEquals(exec.code, 4);

      const tty = new PtySession(
        `ctr --address ${c.address} --namespace ${c.namespace} tasks exec -t --exec-id e2 ${id} sh -c 'tty; exit 6'`,
      );
      try {
        await tty.expect("/dev/pts/");
        assertEquals(await tty.wait(), 6, tty.output);
      } finally {
        tty.kill();
      }

      const bg = await c.ctr(["tasks", "exec", "-d", "--exec-id", "bg", id, "sleep", "60"]);
      assertEquals(bg.code, 0, bg.stderr);
      const ps = await c.ctr(["tasks", "ps", id]);
      assertEquals(ps.code, 0, ps.stderr);
      const pids = ps.stdout.split("\n").slice(1).filter((l) => /^\s*\d+/.test(l));
      assert(pids.length >= 2, `ps lists init and the exec: ${ps.stdout}`);

      assertEquals((await c.ctr(["tasks", "pause", id])).code, 0);
      assertEquals(await c.taskStatus(id), "PAUSED");
      assertEquals((await c.ctr(["tasks", "resume", id])).code, 0);
      assertEquals(await c.taskStatus(id), "RUNNING");

      const metrics = await c.ctr(["tasks", "metrics", id]);
      assertEquals(metrics.code, 0, metrics.stderr);
      assertIncludes(metrics.stdout, "memory.usage_in_bytes");
      assertIncludes(metrics.stdout, "pids.current");

      assertEquals((await c.ctr(["tasks", "kill", "-s", "TERM", id])).code, 0);
      await waitFor(
        async () => (await c.taskStatus(id)) === "STOPPED",
        `${id} STOPPED after TERM`,
      );
      assertEquals(await deletedExitCode(c, id), 7, "exit status of the TERM trap");
      assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
    },
  });

  Deno.test({
    name: `${name}: kill -a stops every process of the container`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "killall");
      assertEquals(
        (await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "60"])).code,
        0,
      );
      await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);
      assertEquals(
        (await c.ctr(["tasks", "exec", "-d", "--exec-id", "x", id, "sleep", "60"])).code,
        0,
      );
      const k = await c.ctr(["tasks", "kill", "-a", "-s", "KILL", id]);
      assertEquals(k.code, 0, k.stderr);
      await waitFor(
        async () => (await c.taskStatus(id)) === "STOPPED",
        `${id} STOPPED after kill -a`,
      );
      assertEquals(await deletedExitCode(c, id), 137);
      assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
    },
  });

  Deno.test({
    name: `${name}: ctr run -t on a pseudo-terminal echoes input and answers it`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "tty");
      const pty = new PtySession(
        `ctr --address ${c.address} --namespace ${c.namespace} run -t --rm --runtime ${runtime} ${IMAGE_NAME} ${id} sh`,
      );
      try {
        await pty.expect("#");
        await pty.type("echo hello-$((40+2))\n");
        await pty.expect("echo hello-$((40+2))");
        await pty.expect("hello-42");
        await pty.type("exit 5\n");
        assertEquals(await pty.wait(), 5, pty.output);
      } finally {
        pty.kill();
      }
    },
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
      const child = new Deno.Command("ctr", {
        args: [
          "--address",
          c.address,
          "--namespace",
          c.namespace,
          "run",
          "--rm",
          "--runtime",
          runtime,
          IMAGE_NAME,
          id,
          "cat",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
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
        return c.ctr([
          "run",
          "--rm",
          "--runtime",
          runtime,
          IMAGE_NAME,
          id,
          "sh",
          "-c",
          `echo hello-${i}; exit ${i}`,
        ], {
          timeoutMs: 120_000,
        });
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
