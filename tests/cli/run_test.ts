/**
 * `joey run` with the linux-container runtime through runc, without
 * containerd: separate stdout/stderr and the exit status, stdin with EOF,
 * bind volumes (rw and ro), an OCI image archive, a terminal driven through
 * a pty, signal forwarding; afterwards no runtime state, cgroup or bundle is
 * left. With virt-container: a clear "not available yet" while that runtime
 * is not in the build, else a container in a VM.
 * @module
 */
import { makeBusyboxRootfs } from "../containerd/image.ts";
import { buildBusyboxImage } from "../containerd/image.ts";
import { PtySession } from "../containerd/pty.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { containerSkipReason, joey, joeyCommand, REPO, RunningJoey } from "./joey.ts";

const skip = await containerSkipReason();
if (skip) console.log(`run tests skipped: ${skip}`);

/** The runc state of `joey run` containers (linux_container.root + namespace). */
const RUN_STATE = "/run/joey/runc/joey-run";

async function leftovers(id: string): Promise<string[]> {
  const found: string[] = [];
  for (
    const p of [
      `${RUN_STATE}/${id}`,
      `/sys/fs/cgroup/memory/${id}`,
      `/sys/fs/cgroup/pids/${id}`,
    ]
  ) {
    if (await Deno.stat(p).then(() => true, () => false)) found.push(p);
  }
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for await (const e of Deno.readDir(tmp)) {
    if (e.name.startsWith("joey-run-")) {
      const cfg = await Deno.readTextFile(`${tmp}/${e.name}/config.json`).catch(() => "");
      if (cfg.includes(id)) found.push(`${tmp}/${e.name}`);
    }
  }
  return found;
}

function withRootfs(fn: (rootfs: string, dir: string) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    await makeBusyboxRootfs(`${dir}/rootfs`);
    await fn(`${dir}/rootfs`, dir);
  });
}

Deno.test({
  name: "joey run (linux-container) keeps stdout and stderr apart and exits with the status",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const id = `clitest-${crypto.randomUUID().slice(0, 6)}`;
      const r = await joey([
        "run",
        "--name",
        id,
        "--rootfs",
        rootfs,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ]);
      assertEquals(r.stdout, "out\n");
      assertEquals(r.stderr, "err\n");
      assertEquals(r.code, 3);
      assertEquals(await leftovers(id), []);
    }),
});

Deno.test({
  name: "joey run -i forwards stdin and delivers EOF",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const data = "line one\nline two\n".repeat(200);
      const r = await joey(["run", "-i", "--rootfs", rootfs, "--", "sh", "-c", "cat; echo EOF"], {
        stdin: data,
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, data + "EOF\n");
    }),
});

Deno.test({
  name: "joey run -v bind-mounts host directories, read-write and read-only",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs, dir) => {
      await Deno.mkdir(`${dir}/rw`);
      await Deno.mkdir(`${dir}/ro`);
      await Deno.writeTextFile(`${dir}/ro/f`, "host file\n");
      const r = await joey([
        "run",
        "--rootfs",
        rootfs,
        "-v",
        `${dir}/rw:/data`,
        "-v",
        `${dir}/ro:/ro:ro`,
        "-e",
        "GREETING=hi",
        "--",
        "sh",
        "-c",
        'echo "$GREETING" > /data/out; cat /ro/f; touch /ro/g 2>/dev/null || echo ro-refused',
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "host file\nro-refused\n");
      assertEquals(await Deno.readTextFile(`${dir}/rw/out`), "hi\n");
      assert(!(await Deno.stat(`${dir}/ro/g`).then(() => true, () => false)));
    }),
});

Deno.test({
  name: "joey run --image unpacks an OCI archive and uses its environment",
  ignore: skip !== null,
  fn: async () => {
    const archive = await buildBusyboxImage(`${REPO}/build/test-images`);
    const r = await joey([
      "run",
      "--image",
      archive,
      "-w",
      "/tmp",
      "--",
      "sh",
      "-c",
      'echo "$PATH"; pwd; head -1 /etc/passwd',
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "/bin\n/tmp\nroot:x:0:0:root:/root:/bin/sh\n");
  },
});

Deno.test({
  name: "joey run -t gives the container a terminal: input echoed and answered",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const [cmd, args] = joeyCommand(["run", "-t", "--rootfs", rootfs, "--", "sh"]);
      const quoted = [cmd, ...args].map((a) => `'${a}'`).join(" ");
      const pty = new PtySession(`JOEY_CONFIG= JOEY_RUNTIME=linux-container ${quoted}`);
      try {
        await pty.expect("#", 20_000);
        await pty.type("tty; echo sum=$((40+2))\r");
        await pty.expect("sum=42");
        await pty.expect("/dev/pts/");
        await pty.type("exit 4\r");
        assertEquals(await pty.wait(20_000), 4);
      } finally {
        pty.kill();
      }
    }),
});

Deno.test({
  name: "joey run forwards SIGTERM to the container",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      // The container's process is pid 1 in its namespace: only a handled signal acts on it.
      const script = 'trap "echo got TERM; exit 7" TERM; echo up; while :; do sleep 0.1; done';
      const joeyRun = new RunningJoey(
        ["run", "--rootfs", rootfs, "--", "sh", "-c", script],
        30_000,
      );
      try {
        assertEquals(await joeyRun.read(), "up\n");
        joeyRun.kill("SIGTERM");
        assertEquals(await joeyRun.rest(), "got TERM\n");
      } finally {
        assertEquals((await joeyRun.close()).code, 7);
      }
    }),
});

Deno.test({
  name: "joey run --runtime virt-container runs in a VM, or says it is not available yet",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const r = await joey(
        ["run", "--runtime", "virt-container", "--rootfs", rootfs, "--", "uname", "-r"],
        { timeoutMs: 120_000 },
      );
      if (r.code === 1 && r.stderr.includes("not available yet")) {
        console.log(`virt-container: ${r.stderr.trim()}`);
        assertIncludes(r.stderr, "runtime virt-container is not available yet in this build");
        assertEquals(r.stdout, "");
        return;
      }
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.trim() !== Deno.osRelease(), "the guest kernel, not the host's");
    }),
});

Deno.test({
  name: "joey run: the third SIGINT kills a container whose pid 1 ignores it",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const joeyRun = new RunningJoey(
        ["run", "--rootfs", rootfs, "--", "sh", "-c", "echo up; exec sleep 30"],
        30_000,
      );
      try {
        assertEquals(await joeyRun.read(), "up\n");
        for (let i = 0; i < 3; i++) {
          joeyRun.kill("SIGINT");
          await new Promise((r) => setTimeout(r, 200));
        }
        assertEquals(await joeyRun.rest(), "");
      } finally {
        assertEquals((await joeyRun.close()).code, 128 + 9);
      }
    }),
});

Deno.test({
  name: "joey run reports a container that cannot start, exits 1 and leaves nothing",
  ignore: skip !== null,
  fn: () =>
    withRootfs(async (rootfs) => {
      const id = `clitest-bad-${crypto.randomUUID().slice(0, 6)}`;
      const r = await joey(["run", "-i", "--name", id, "--rootfs", rootfs, "--", "/no/such/cmd"], {
        stdin: "ignored\n",
        timeoutMs: 30_000,
      });
      assertEquals(r.code, 1, r.stderr);
      assertIncludes(r.stderr, "/no/such/cmd");
      assertEquals(await leftovers(id), []);
    }),
});
