/**
 * The virt-container OOM watcher against a scripted agent: known ids are
 * reported, ids the sandbox does not have are dropped, and the loop ends on
 * stop(), Canceled, Unimplemented or after bounded retries, leaving no
 * timer or call behind (Deno's op sanitizer is on).
 */
import { type OomAgent, OomWatcher } from "../../src/runtime/virt_container/oom_watcher.ts";
import { Code, TtrpcError } from "../../src/ttrpc/mod.ts";
import { assertEquals } from "../lib/assert.ts";
import { within } from "../lib/tmp.ts";

type Answer = Record<string, unknown> | Error;

/** An agent whose GetOOMEvent answers come from a script; past its end a call waits until close(). */
class ScriptedAgent implements OomAgent {
  calls = 0;
  #script: Answer[];
  #waiting: ((err: Error) => void)[] = [];
  constructor(script: Answer[]) {
    this.#script = script;
  }
  call(method: string): Promise<Record<string, unknown>> {
    assertEquals(method, "GetOOMEvent");
    this.calls++;
    const next = this.#script.shift();
    if (next instanceof Error) return Promise.reject(next);
    if (next) return Promise.resolve(next);
    return new Promise((_, reject) => this.#waiting.push(reject));
  }
  /** Fails the waiting calls as a closed connection does. */
  close(err = new TtrpcError(Code.Unavailable, "ttrpc: client closed")) {
    for (const reject of this.#waiting.splice(0)) reject(err);
  }
}

function watch(agent: ScriptedAgent, known: string[], opts: { maxFailures?: number } = {}) {
  const ooms: string[] = [];
  const w = OomWatcher.start({
    sandboxId: "sb",
    agent,
    isKnown: (id) => known.includes(id),
    onOom: (id) => ooms.push(id),
    retryDelayMs: 10,
    ...opts,
  });
  return { w, ooms };
}

Deno.test("OomWatcher reports known containers and drops ids the sandbox does not have", async () => {
  const agent = new ScriptedAgent([
    { container_id: "a" },
    { container_id: "../../etc" },
    { container_id: "" },
    { container_id: 42 },
    {},
    { container_id: "b" },
    { container_id: "a" },
  ]);
  const { w, ooms } = watch(agent, ["a", "b"]);
  while (agent.calls < 8) await new Promise((r) => setTimeout(r, 1));
  assertEquals(ooms, ["a", "b", "a"]);
  w.stop();
  agent.close();
  await within(w.done, 1000, "the loop's end");
});

Deno.test("OomWatcher ends on Canceled (DestroySandbox) and on Unimplemented (older agent)", async () => {
  for (const code of [Code.Canceled, Code.Unimplemented]) {
    const agent = new ScriptedAgent([{ container_id: "a" }, new TtrpcError(code, "x")]);
    const { w, ooms } = watch(agent, ["a"]);
    await within(w.done, 1000, `the loop's end on code ${code}`);
    assertEquals([ooms, agent.calls], [["a"], 2]);
  }
});

Deno.test("OomWatcher retries a failing agent a bounded number of times, then gives up", async () => {
  const gone = () => new TtrpcError(Code.Unavailable, "ttrpc: client closed");
  const agent = new ScriptedAgent([
    gone(),
    gone(),
    { container_id: "a" },
    ...Array(5).fill(0).map(gone),
  ]);
  const { w, ooms } = watch(agent, ["a"], { maxFailures: 5 });
  await within(w.done, 2000, "giving up");
  // Two failures, a success that resets the count, then five more.
  assertEquals([ooms, agent.calls], [["a"], 8]);
});

Deno.test("OomWatcher stop() ends a backoff at once and an outstanding call when it fails", async () => {
  const agent = new ScriptedAgent([new TtrpcError(Code.Internal, "x")]);
  const { w } = watch(agent, [], { maxFailures: 5 });
  await new Promise((r) => setTimeout(r, 2)); // in the backoff now
  w.stop();
  await within(w.done, 1000, "the end of the backoff");
  assertEquals(agent.calls, 1);

  const agent2 = new ScriptedAgent([]);
  const { w: w2 } = watch(agent2, []);
  await new Promise((r) => setTimeout(r, 2));
  w2.stop();
  agent2.close();
  await within(w2.done, 1000, "the end of the outstanding call");
  assertEquals(agent2.calls, 1);
});
