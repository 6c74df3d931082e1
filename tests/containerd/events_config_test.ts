/**
 * Through a real containerd: the order of task events (joey against the
 * runc shim), OOM events, crun as the OCI runtime, the shim log reaching
 * containerd's log, and configuration from TOML and pod annotations.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME, RUNC_RUNTIME } from "./harness.ts";
import { runRm } from "./scenarios.ts";
import { runtimeBinary } from "../runtime/linux_container/fixture.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Collects `ctr events` lines while fn runs; returns the task topics seen for id. */
async function taskTopics(c: Containerd, id: string, fn: () => Promise<void>): Promise<string[]> {
  const events = new Deno.Command("ctr", {
    args: ["--address", c.address, "events"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const stdout = events.stdout;
  const reading = (async () => {
    for await (const chunk of stdout) text += decoder.decode(chunk, { stream: true });
  })();
  try {
    await new Promise((r) => setTimeout(r, 300)); // subscribed before the first event
    await fn();
    await waitFor(() => text.includes("/tasks/delete"), "the delete event", 10_000);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    events.kill("SIGTERM");
    await events.status;
    await reading.catch(() => {});
  }
  return text.split("\n")
    .filter((l) =>
      l.includes(`"${id}"`) || l.includes(` ${id} `) || l.includes(`ContainerID:${id}`) ||
      l.includes(id)
    )
    .map((l) => /(\/tasks\/[a-z-]+)/.exec(l)?.[1])
    .filter((t): t is string => t !== undefined);
}

/** The lifecycle whose events are compared: exec, pause, resume, kill, delete. */
async function lifecycle(c: Containerd, runtime: string, id: string): Promise<void> {
  assertEquals(
    (await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "60"])).code,
    0,
  );
  assertEquals((await c.ctr(["tasks", "exec", "--exec-id", "e1", id, "true"])).code, 0);
  assertEquals((await c.ctr(["tasks", "pause", id])).code, 0);
  assertEquals((await c.ctr(["tasks", "resume", id])).code, 0);
  assertEquals((await c.ctr(["tasks", "kill", "-s", "KILL", id])).code, 0);
  await waitFor(
    async () => (await c.ctr(["tasks", "delete", id])).code === 0,
    `${id} deleted`,
    10_000,
  );
  assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
}

Deno.test({
  name: "events: joey publishes the runc shim's task events in the same order, OOM included",
  ...opts,
  fn: async () => {
    const c = await Containerd.start();
    try {
      const suffix = Math.random().toString(36).slice(2, 7);
      const orders: Record<string, string[]> = {};
      for (const [name, runtime] of [["runc", RUNC_RUNTIME], ["joey", JOEY_RUNTIME]] as const) {
        const id = `ev-${name}-${suffix}`;
        orders[name] = await taskTopics(c, id, () => lifecycle(c, runtime, id));
      }
      console.log(`  runc: ${orders.runc!.join(" ")}\n  joey: ${orders.joey!.join(" ")}`);
      assertEquals(orders.joey, orders.runc);
      assertEquals(orders.joey!.slice(0, 2), ["/tasks/create", "/tasks/start"]);
      assertEquals(orders.joey!.at(-1), "/tasks/delete");
      for (
        const topic of [
          "/tasks/exec-added",
          "/tasks/exec-started",
          "/tasks/paused",
          "/tasks/resumed",
          "/tasks/exit",
        ]
      ) {
        assert(orders.joey!.includes(topic), `joey published ${topic}`);
      }

      // A container that outgrows its memory limit: an OOM event and status 137.
      for (const [name, runtime] of [["runc", RUNC_RUNTIME], ["joey", JOEY_RUNTIME]] as const) {
        const id = `oom-${name}-${suffix}`;
        let code = -1;
        const topics = await taskTopics(c, id, async () => {
          const r = await runRm(c, {
            runtime,
            id,
            flags: ["--memory-limit", String(16 << 20)],
            argv: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived"],
            timeoutMs: 60_000,
          });
          code = r.code;
        });
        assert(
          topics.includes("/tasks/oom"),
          `${name}: an OOM event for ${id} (saw ${topics.join(" ")})`,
        );
        assertEquals(code, 137, `${name}: killed by the OOM killer`);
      }
    } finally {
      await c.stop();
    }
  },
});

Deno.test({
  name: "config: crun as the OCI runtime from the TOML file, and the shim log in containerd's log",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      // On this hybrid-cgroup host crun needs the wrapper the handler tests use.
      const crun = await runtimeBinary("crun", dir);
      await Deno.writeTextFile(`${dir}/joey.toml`, `[linux_container]\noci_runtime = "${crun}"\n`);
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
      try {
        const id = `crun-${Math.random().toString(36).slice(2, 7)}`;
        assertEquals(
          (await c.ctr(["run", "-d", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sleep", "60"]))
            .code,
          0,
        );
        const list = await new Deno.Command("crun", {
          args: ["--root", `/run/joey/runc/${c.namespace}`, "list"],
          stdout: "piped",
        })
          .output();
        assertIncludes(new TextDecoder().decode(list.stdout), id);
        const exec = await c.ctr([
          "tasks",
          "exec",
          "--exec-id",
          "x",
          id,
          "sh",
          "-c",
          "echo via-crun; exit 9",
        ]);
        assertEquals(exec.stdout, "via-crun\n");
        assertEquals(exec.code, 9);
        await c.ctr(["tasks", "kill", "-s", "KILL", id]);
        await waitFor(
          async () => (await c.ctr(["tasks", "delete", id])).code === 0,
          `${id} deleted`,
          10_000,
        );
        await c.ctr(["containers", "delete", id]);
        assertEquals(await c.leftovers([id]), []);
        const log = await c.log();
        assert(
          log.split("\n").some((l) =>
            l.includes("shim daemon serving") && l.includes("runtime=io.containerd.joey.v2")
          ),
          "the shim's log lines reach containerd through the log FIFO",
        );
      } finally {
        await c.stop();
      }
    });
  },
});

Deno.test({
  name: "config: a pod annotation overrides the runtime only where the file allows it",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(
        `${dir}/allow.toml`,
        `[runtime]\nenable_annotations = ["runtime.name"]\n`,
      );
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/allow.toml` } });
      try {
        const wasm = await runRm(c, {
          runtime: JOEY_RUNTIME,
          id: `ann-wasm-${Math.random().toString(36).slice(2, 7)}`,
          flags: ["--annotation", "io.joey.config.runtime.name=wasm"],
          argv: ["true"],
        });
        assert(wasm.code !== 0, "the wasm runtime is reserved");
        assertIncludes(wasm.stderr, "wasm");
        assertIncludes(wasm.stderr, "not implemented");
        const ok = await runRm(c, {
          runtime: JOEY_RUNTIME,
          id: `ann-ok-${Math.random().toString(36).slice(2, 7)}`,
          flags: ["--annotation", "io.joey.config.runtime.name=linux-container"],
          argv: ["sh", "-c", "echo allowed"],
        });
        assertEquals(ok.stdout, "allowed\n", ok.stderr);
      } finally {
        await c.stop();
      }
      const strict = await Containerd.start();
      try {
        const denied = await runRm(strict, {
          runtime: JOEY_RUNTIME,
          id: `ann-denied-${Math.random().toString(36).slice(2, 7)}`,
          flags: ["--annotation", "io.joey.config.runtime.name=wasm"],
          argv: ["true"],
        });
        assert(denied.code !== 0, "an annotation the file does not allow is refused");
        assertIncludes(denied.stderr, "io.joey.config.runtime.name");
      } finally {
        await strict.stop();
      }
    });
  },
});
