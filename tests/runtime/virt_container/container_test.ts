/**
 * VmContainer.kill against a scripted agent: with all, an exec that ended
 * while the init was signalled (its pid namespace takes the execs along)
 * is not an error; a kill of that one exec still reports NotFound.
 */
import { assertEquals, assertRejects } from "../../lib/assert.ts";
import type { Sandbox } from "../../../src/runtime/virt_container/sandbox.ts";
import { VmContainer } from "../../../src/runtime/virt_container/container.ts";
import type { ExitInfo, Stdio } from "../../../src/runtime/mod.ts";
import { Code, TtrpcError } from "../../../src/ttrpc/mod.ts";
import { JoeyError } from "../../../src/errors.ts";

const NO_STDIO: Stdio = { stdin: "", stdout: "", stderr: "", terminal: false };

/** An agent where every stream is at EOF, WaitProcess waits for exit(), and exec "x" is gone. */
class ScriptedAgent {
  signals: string[] = [];
  #waits: ((r: Record<string, unknown>) => void)[] = [];
  call(method: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (method) {
      case "ReadStdout":
      case "ReadStderr":
        return Promise.resolve({ data: new Uint8Array() });
      case "WaitProcess":
        return new Promise((r) => this.#waits.push(r));
      case "SignalProcess":
        this.signals.push(String(req.exec_id));
        if (req.exec_id === "x") {
          return Promise.reject(new TtrpcError(Code.NotFound, `process "x" already finished`));
        }
        return Promise.resolve({});
      default:
        return Promise.resolve({});
    }
  }
  /** Every process exits with status. */
  exit(status: number): void {
    for (const r of this.#waits.splice(0)) r({ status });
  }
}

Deno.test("VmContainer.kill(all) passes over an exec that ended meanwhile; kill of it alone is NotFound", async () => {
  const agent = new ScriptedAgent();
  const sandbox = {
    pid: 4242,
    agent,
    resources: {
      handleContainerResources: () => Promise.resolve({ rootfsGuestPath: "/r", mounts: [] }),
      cleanupContainer: () => Promise.resolve(),
    },
  } as unknown as Sandbox;
  const exits: ExitInfo[] = [];
  const listener = { exited: (e: ExitInfo) => exits.push(e), oom: () => {} };
  const c = await VmContainer.create(
    {
      id: "c1",
      bundle: "/nonexistent",
      namespace: "ns",
      rootfs: [],
      stdio: NO_STDIO,
      spec: { process: { args: ["sleep", "60"] }, root: { path: "rootfs" } },
    },
    sandbox,
    listener,
  );
  await c.start("");
  await c.exec({ id: "c1", execId: "x", stdio: NO_STDIO, process: { args: ["sleep", "60"] } });
  await c.start("x");

  await c.kill("", 9, true);
  assertEquals(agent.signals, ["", "x"]);
  const err = await assertRejects(() => c.kill("x", 9, false));
  assertEquals(err instanceof JoeyError && err.kind, "NotFound");

  agent.exit(137);
  await c.process("").exited;
  await c.process("x").exited;
  assertEquals(exits.map((e) => [e.execId, e.exitStatus]).sort(), [["", 137], ["x", 137]]);
  await c.shutdown();
});
