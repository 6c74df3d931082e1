/**
 * virt-container OOM events end to end: real containerd 1.6 and ctr → joey
 * shim → QEMU (TCG here) → guest kernel → agent. Two containers of one pod
 * share a VM, each under a 16 MiB memory limit. One runs `dd` with a
 * 64 MiB buffer (killed: exit 137, and a /tasks/oom for it on `ctr
 * events`); in the other, which keeps running, an exec's shell runs the
 * same dd and lives on, so the event can only come from the agent's
 * memory.events watch, the shim's GetOOMEvent poll is seen to re-arm, and
 * the right container is named. The calm one gets no OOM event before.
 * Everything it started is gone at the end.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import {
  type Containerd,
  IMAGE_NAME,
  JOEY_RUNTIME,
  mountsUnder,
  processesMatching,
} from "../containerd/harness.ts";
import {
  programsMentioning,
  sandboxProcesses,
  startVirtContainerd,
  virtSkipReason,
} from "./virt_harness.ts";

const skip = await virtSkipReason();
if (skip) console.log(`SKIP virt-container OOM test: ${skip}`);

/** `ctr events` output, collected from start() until stop(). */
class EventLog {
  #child: Deno.ChildProcess;
  #text = "";
  #reading: Promise<void>;
  constructor(c: Containerd) {
    this.#child = new Deno.Command("ctr", {
      args: ["--address", c.address, "events"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const decoder = new TextDecoder();
    const stdout = this.#child.stdout;
    this.#reading = (async () => {
      for await (const chunk of stdout) this.#text += decoder.decode(chunk, { stream: true });
    })().catch(() => {});
  }
  /** The task topics of id's events, in order. */
  topics(id: string): string[] {
    return this.#text.split("\n")
      .filter((l) => new RegExp(`\\b${id}\\b`).test(l))
      .map((l) => /(\/tasks\/[a-z-]+)/.exec(l)?.[1])
      .filter((t): t is string => t !== undefined);
  }
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
    await this.#reading;
  }
}

const count = (topics: string[], topic: string) => topics.filter((t) => t === topic).length;

Deno.test({
  name: "virt: a container past its memory limit in the VM gives /tasks/oom and exits 137",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: skip !== null,
  fn: async () => {
    const stateDir = `/run/joey-test-oom-${Math.random().toString(36).slice(2, 8)}`;
    const c = await startVirtContainerd(stateDir);
    const suffix = Math.random().toString(36).slice(2, 7);
    const pod = `virt-oompod-${suffix}`, calm = `virt-oomcalm-${suffix}`;
    const hog = `virt-oomhog-${suffix}`;
    const flags = [
      "--runtime",
      JOEY_RUNTIME,
      "--memory-limit",
      String(16 << 20),
      "--annotation",
      `io.kubernetes.cri.sandbox-id=${pod}`,
    ];
    const dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];
    const events = new EventLog(c);
    try {
      await new Promise((r) => setTimeout(r, 300)); // subscribed before the first event
      const run = await c.ctr(["run", "-d", ...flags, IMAGE_NAME, calm, "sleep", "120"], {
        timeoutMs: 120_000,
      });
      assertEquals(run.code, 0, `${run.stderr}\n${await c.log()}`);
      await waitFor(async () => (await c.taskStatus(calm)) === "RUNNING", `${calm} RUNNING`);
      assertEquals(
        (await programsMentioning("qemu-system", `${stateDir}/${pod}/`)).length,
        1,
        "the pod runs in a QEMU VM",
      );

      const r = await c.ctr(["run", "--rm", ...flags, IMAGE_NAME, hog, ...dd], {
        timeoutMs: 120_000,
      });
      assertEquals(r.code, 137, `dd killed by the OOM killer: ${r.stderr}`);
      await waitFor(() => events.topics(hog).includes("/tasks/delete"), `${hog} deleted`, 20_000);
      const hogTopics = events.topics(hog);
      console.log(`  ${hog}: ${hogTopics.join(" ")}`);
      assertEquals(count(hogTopics, "/tasks/oom"), 1, `one OOM event for ${hog}`);
      assertEquals(count(events.topics(calm), "/tasks/oom"), 0, `no OOM event for ${calm} yet`);

      // The same sandbox's poll goes on: in the calm container, an exec's
      // shell survives its dd child, so no exit of a process the agent
      // tracks says anything: the OOM comes from the memory.events watch.
      const e = await c.ctr([
        "tasks",
        "exec",
        "-d",
        "--exec-id",
        "big",
        calm,
        "sh",
        "-c",
        `${dd.join(" ")}; sleep 120`,
      ], { timeoutMs: 60_000 });
      assertEquals(e.code, 0, e.stderr);
      await waitFor(
        () => events.topics(calm).includes("/tasks/oom"),
        `an OOM event for ${calm}`,
        20_000,
      );
      assertEquals(count(events.topics(calm), "/tasks/exit"), 0, "no process of it has exited");
      assertEquals(await c.taskStatus(calm), "RUNNING", "the container's init lives on");

      await c.ctr(["tasks", "kill", "-s", "KILL", calm]);
      await waitFor(async () => (await c.taskStatus(calm)) === "STOPPED", `${calm} STOPPED`);
      assertEquals((await c.ctr(["tasks", "delete", calm])).code, 0);
      assertEquals((await c.ctr(["containers", "delete", calm])).code, 0);
      await waitFor(() => events.topics(calm).includes("/tasks/delete"), `${calm} deleted`);
      const calmTopics = events.topics(calm);
      console.log(`  ${calm}: ${calmTopics.join(" ")}`);
      assertEquals(count(calmTopics, "/tasks/oom"), 1, "a kill is not an OOM");
      assertEquals(calmTopics.indexOf("/tasks/oom") < calmTopics.indexOf("/tasks/exit"), true);
      const shimLog = await c.log();
      assert(
        !shimLog.includes("does not have; ignored") && !shimLog.includes("GetOOMEvent keeps"),
        "the shim logged no OOM trouble",
      );
      // The sandbox is gone with its last container: QEMU, virtiofsd, mounts, state.
      await waitFor(
        async () => (await sandboxProcesses(`${stateDir}/${pod}/`)).length === 0,
        "the sandbox's processes to exit",
        20_000,
      );
      assertEquals(await mountsUnder(stateDir), []);
      await waitFor(
        async () => (await processesMatching("main.ts", `-address ${c.address}`)).length === 0,
        "the shim daemon to exit",
        20_000,
      );
      assertEquals(await Array.fromAsync(Deno.readDir(stateDir)).catch(() => []), []);
    } finally {
      await events.stop();
      for (const id of [hog, calm]) {
        await c.ctr(["tasks", "delete", "-f", id], { timeoutMs: 30_000 });
        await c.ctr(["containers", "delete", id]);
      }
      await c.stop();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
