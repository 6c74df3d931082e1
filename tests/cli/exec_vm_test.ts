/**
 * `joey exec` into virt-container sandboxes: real containerd 1.6 → joey
 * shim → QEMU (TCG here) → guest agent, then the CLI dials the sandbox's
 * agent itself (hybrid vsock under JOEY_STATE_DIR) and runs commands in the
 * guest: the guest's kernel release (not the host's), stdout and stderr
 * apart, the exit status, stdin piped through, the container chosen with
 * --container in a two-container pod, and the documented errors. Bounded
 * in time; containerd, the VMs and the state directory go even on failure.
 * @module
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { type Containerd, IMAGE_NAME, JOEY_RUNTIME, mountsUnder } from "../containerd/harness.ts";
import { guestKernel } from "../virt/guest_fixture.ts";
import {
  REPO,
  sandboxProcesses,
  startVirtContainerd,
  virtSkipReason,
} from "../virt/virt_harness.ts";
import { PtySession } from "../containerd/pty.ts";
import { makeBusyboxRootfs } from "../containerd/image.ts";
import { joey, joeyCommand } from "./joey.ts";

const skip = await virtSkipReason();
if (skip) console.log(`SKIP joey exec into virt-container sandboxes: ${skip}`);

/** `ctr run -d` of a sleeping busybox container; waits until its task runs. */
async function runDetached(c: Containerd, id: string, flags: string[] = []): Promise<void> {
  const run = await c.ctr(
    ["run", "-d", "--runtime", JOEY_RUNTIME, ...flags, IMAGE_NAME, id, "sleep", "300"],
    { timeoutMs: 120_000 },
  );
  assertEquals(run.code, 0, `${run.stderr}\n${(await c.log()).slice(-3000)}`);
  await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`, 60_000);
}

Deno.test("joey exec: an unknown sandbox id gives the documented NotFound and exit 1", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "joey-exec-state-" });
  try {
    const r = await joey(["exec", "no-such-sandbox", "--", "true"], {
      env: { JOEY_STATE_DIR: stateDir },
    });
    assertEquals(r.code, 1, r.stderr);
    assertIncludes(r.stderr, `no sandbox or container "no-such-sandbox": not in ${stateDir}/`);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("joey exec: a sandbox whose agent does not answer is reported as unreachable", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "joey-exec-state-" });
  await Deno.mkdir(`${stateDir}/dead/vm`, { recursive: true });
  // A VMM socket that hangs up on every CONNECT, as one does while no guest listens.
  const listener = Deno.listen({ transport: "unix", path: `${stateDir}/dead/vm/agent.sock` });
  const serving = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    const r = await joey(["exec", "dead", "--", "true"], {
      env: { JOEY_STATE_DIR: stateDir },
      timeoutMs: 30_000,
    });
    assertEquals(r.code, 1, r.stderr);
    assertIncludes(
      r.stderr,
      `sandbox "dead" found at ${stateDir}/dead, but the agent client cannot reach its guest ` +
        `agent through ${stateDir}/dead/vm/agent.sock`,
    );
  } finally {
    listener.close();
    await serving.catch(() => {});
    await Deno.remove(stateDir, { recursive: true });
  }
});

/**
 * Runs fn with a containerd whose shims run virt-container with state in a
 * fresh directory (env names it for joey). Afterwards containerd stops and
 * no QEMU, virtiofsd or vsock back end may be left: exec sessions must not
 * keep a sandbox from stopping once its containers go.
 */
async function withVirtContainerd(
  fn: (c: Containerd, env: { JOEY_STATE_DIR: string }) => Promise<void>,
): Promise<void> {
  const stateDir = `/run/joey-exec-test-${Math.random().toString(36).slice(2, 8)}`;
  let c: Containerd | null = null;
  let left: number[] = [];
  try {
    c = await startVirtContainerd(stateDir);
    await fn(c, { JOEY_STATE_DIR: stateDir });
  } finally {
    await c?.stop();
    // The shims' cleanup stops QEMU, virtiofsd and the vsock back end: wait for it, bounded.
    await waitFor(async () => (await sandboxProcesses(stateDir)).length === 0, "VMs gone", 30_000)
      .catch(() => {});
    left = await sandboxProcesses(stateDir);
    for (const pid of left) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    for (const m of (await mountsUnder(stateDir)).reverse()) {
      await new Deno.Command("umount", { args: ["-l", m] }).output();
    }
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
  assertEquals(left, [], "QEMU/virtiofsd/vsock back end still running after containerd stopped");
}

Deno.test({
  name: "joey exec into a virt-container sandbox: guest kernel, stdio, exit code, --container",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withVirtContainerd(async (c, env) => {
      const kernel = await guestKernel(REPO);
      assert(typeof kernel !== "string", String(kernel));
      const stateDir = env.JOEY_STATE_DIR;
      const suffix = Math.random().toString(36).slice(2, 7);
      const solo = `xvm-solo-${suffix}`;
      const pod = `xvm-pod-${suffix}`;
      const [pa, pb] = [`xvm-pa-${suffix}`, `xvm-pb-${suffix}`];
      await runDetached(c, solo);

      const r = await joey(
        ["exec", solo, "--", "sh", "-c", "echo in-vm $(uname -r); echo to-err >&2; exit 3"],
        { env, timeoutMs: 60_000 },
      );
      assertEquals(r.stdout, `in-vm ${kernel.release}\n`, r.stderr);
      assert(kernel.release !== Deno.osRelease(), "guest and host run the same kernel release");
      assertEquals(r.stderr, "to-err\n");
      assertEquals(r.code, 3);

      const input = "line one\nline two\n" + "x".repeat(100_000) + "\n";
      const cat = await joey(["exec", solo, "--", "cat"], { env, stdin: input });
      assertEquals(cat.code, 0, cat.stderr);
      assertEquals(cat.stdout, input);

      // Without CMD: /bin/sh reading its commands from our stdin.
      const sh = await joey(["exec", solo], { env, stdin: "echo sh-$((6*7))\nexit 4\n" });
      assertEquals([sh.stdout, sh.code], ["sh-42\n", 4], sh.stderr);

      const tty = await joey(["exec", "-t", solo, "--", "sh", "-c", "test -t 0 && echo tty"], {
        env,
      });
      assertEquals([tty.stdout.trim(), tty.code], ["tty", 0], tty.stderr);

      // On a terminal (stdin is one, so -t is implied): raw mode, keystrokes answered, exit status.
      const [cmd, args] = joeyCommand(["exec", solo]);
      const quoted = [cmd, ...args].map((a) => `'${a}'`).join(" ");
      const pty = new PtySession(`JOEY_CONFIG= JOEY_STATE_DIR=${stateDir} ${quoted}`);
      try {
        await pty.expect("#", 20_000);
        await pty.type("test -t 0 && echo sum=$((40+2))\r");
        await pty.expect("sum=42");
        await pty.type("exit 6\r");
        assertEquals(await pty.wait(20_000), 6, pty.output);
      } finally {
        pty.kill();
      }

      // SIGTERM to the CLI goes to the process in the guest.
      const [tcmd, targs] = joeyCommand(
        [
          "exec",
          solo,
          "--",
          "sh",
          "-c",
          "trap 'echo got-term; exit 9' TERM; echo ready; " +
          "while :; do sleep 0.1; done",
        ],
      );
      const term = new Deno.Command(tcmd, {
        args: targs,
        env: { JOEY_CONFIG: "", ...env },
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const killer = setTimeout(() => term.kill("SIGKILL"), 60_000);
      try {
        const reader = term.stdout.getReader();
        let seen = "";
        while (!seen.includes("ready")) {
          const chunk = await reader.read();
          if (chunk.done) break;
          seen += new TextDecoder().decode(chunk.value);
        }
        assertIncludes(seen, "ready");
        term.kill("SIGTERM");
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          seen += new TextDecoder().decode(chunk.value);
        }
        assertEquals([seen, (await term.status).code], ["ready\ngot-term\n", 9]);
      } finally {
        clearTimeout(killer);
        try {
          term.kill("SIGKILL");
        } catch { /* exited */ }
        await term.status;
      }

      // Two containers in one pod (one VM): the CLI must be told which.
      const annotation = ["--annotation", `io.kubernetes.cri.sandbox-id=${pod}`];
      await runDetached(c, pa, annotation);
      await runDetached(c, pb, annotation);
      const ambiguous = await joey(["exec", pod, "--", "true"], { env });
      assertEquals(ambiguous.code, 1);
      assertIncludes(ambiguous.stderr, `${pa}, ${pb}`);
      assertIncludes(ambiguous.stderr, "--container ID");
      // Each container's own root: mark one, look from both.
      const mark = await joey(["exec", pod, "--container", pa, "--", "touch", "/mark-a"], { env });
      assertEquals(mark.code, 0, mark.stderr);
      const look = (id: string) =>
        joey(["exec", pod, "--container", id, "--", "sh", "-c", "test -e /mark-a"], { env });
      assertEquals((await look(pa)).code, 0);
      assertEquals((await look(pb)).code, 1);
      const wrong = await joey(["exec", pod, "--container", "nope", "--", "true"], { env });
      assertEquals(wrong.code, 1);
      assertIncludes(wrong.stderr, `container "nope" is not in sandbox "${pod}"`);
    }),
});

Deno.test({
  name:
    "joey exec runs as the container's user, env and cwd (as ctr tasks exec does); -u/-e/-w override them",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withVirtContainerd(async (c, env) => {
      const id = `xvm-user-${Math.random().toString(36).slice(2, 7)}`;
      // ctr 1.6 has no --user, and with --config it takes the whole spec from
      // the file (no image): ctr's own default spec, with the process and a
      // busybox root on the host.
      const spec = JSON.parse((await c.ctr(["oci", "spec"])).stdout);
      const dir = await Deno.makeTempDir({ prefix: "joey-exec-user-" });
      try {
        await makeBusyboxRootfs(`${dir}/rootfs`);
        spec.root = { path: `${dir}/rootfs`, readonly: false };
        spec.process = {
          ...spec.process,
          user: { uid: 1000, gid: 1001 },
          args: ["sleep", "300"],
          env: ["PATH=/bin", "JOEY_VAR=from-the-spec"],
          cwd: "/tmp",
        };
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec));
        const run = await c.ctr(
          ["run", "-d", "--runtime", JOEY_RUNTIME, "--config"].concat(
            [`${dir}/config.json`, id],
          ),
          { timeoutMs: 120_000 },
        );
        assertEquals(run.code, 0, `${run.stderr}\n${(await c.log()).slice(-3000)}`);
        await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`, 60_000);
        await execAsTheContainer(c, id, env);
        await c.ctr(["tasks", "kill", "-s", "KILL", id]);
        await waitFor(async () => (await c.taskStatus(id)) === "STOPPED", `${id} STOPPED`);
        assertEquals((await c.ctr(["tasks", "delete", id])).code, 0);
        assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }),
});

/** joey exec and ctr tasks exec show the same user, env and cwd; the flags replace them. */
async function execAsTheContainer(
  c: Containerd,
  id: string,
  env: { JOEY_STATE_DIR: string },
): Promise<void> {
  const show = ["sh", "-c", 'echo "$(id -u) $(id -g) $JOEY_VAR $(pwd)"'];
  const ctrExec = await c.ctr(["tasks", "exec", "--exec-id", "ref", id, ...show]);
  assertEquals(ctrExec.stdout, "1000 1001 from-the-spec /tmp\n", ctrExec.stderr);
  const r = await joey(["exec", id, "--", ...show], { env });
  assertEquals([r.stdout, r.stderr, r.code], [ctrExec.stdout, "", 0]);
  const over = await joey(
    ["exec", "-u", "0", "-e", "JOEY_VAR=override", "-w", "/", id, "--", ...show],
    { env },
  );
  // -u UID keeps the container's gid, as runc exec --user does.
  assertEquals([over.stdout, over.code], ["0 1001 override /\n", 0], over.stderr);
  const bad = await joey(["exec", "-u", "nobody", id, "--", "true"], { env });
  assertEquals(bad.code, 2);
  assertIncludes(bad.stderr, '--user takes UID[:GID] as numbers, not "nobody"');
}
