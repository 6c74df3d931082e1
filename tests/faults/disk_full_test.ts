/**
 * Fault: the linux-container state directory (the OCI runtime's --root,
 * `[linux_container] root`) is on a full filesystem — a tiny tmpfs with its
 * only free inode and block used up. `ctr run` must fail with a clear error
 * naming the cause, and leave nothing behind: no shim daemon, mount, cgroup,
 * runtime state or bundle. Freeing the space then lets the next container
 * run, so the failure left no poisoned state either.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { Containerd, JOEY_RUNTIME } from "../containerd/harness.ts";
import { runRm } from "../containerd/scenarios.ts";
import { withTempDir } from "../lib/tmp.ts";
import { describeLeaks, leaks } from "./leaks.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function run(cmd: string, args: string[]): Promise<{ code: number; err: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "linux-container: a full state directory fails the create clearly and leaks nothing",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/runc-root`;
      await Deno.mkdir(root);
      // 2 inodes: the root and the filler; 4 KiB of blocks, all used.
      const m = await run("mount", [
        "-t",
        "tmpfs",
        "-o",
        "size=4k,nr_inodes=2,mode=0700",
        "tmpfs",
        root,
      ]);
      assertEquals(m.code, 0, m.err);
      let c: Containerd | null = null;
      try {
        const fill = await run("sh", ["-c", `head -c 8192 /dev/zero > ${root}/filler; true`]);
        assertEquals(fill.code, 0);
        await Deno.writeTextFile(`${dir}/joey.toml`, `[linux_container]\nroot = "${root}"\n`);
        c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
        const marker = `joeyfull${Date.now()}`;
        const id = `full-${Math.random().toString(36).slice(2, 7)}`;
        const r = await runRm(c, {
          runtime: JOEY_RUNTIME,
          id,
          argv: ["sh", "-c", `true # ${marker}`],
          timeoutMs: 60_000,
        });
        console.log(`ctr run on a full state dir: exit ${r.code}: ${r.stderr.trim()}`);
        assert(r.code !== 0, "the create must fail");
        assert(
          /no space left on device|ENOSPC/i.test(r.stderr),
          `the error names the cause: ${r.stderr}`,
        );
        // ctr run --rm may leave the container record when the task never started.
        await c.ctr(["containers", "delete", id]);
        const report = await leaks(c, [id], marker);
        assertEquals(describeLeaks(report), "", "nothing left after the failed create");
        const left = [];
        for await (const e of Deno.readDir(root)) left.push(e.name);
        assertEquals(left, ["filler"], "nothing new in the full state dir");

        // Space back: the next container runs normally.
        await Deno.remove(`${root}/filler`);
        const grow = await run("mount", ["-o", "remount,size=1m,nr_inodes=1024", root]);
        assertEquals(grow.code, 0, grow.err);
        const ok = await runRm(c, {
          runtime: JOEY_RUNTIME,
          id: `${id}-ok`,
          argv: ["sh", "-c", "echo fine"],
          timeoutMs: 60_000,
        });
        assertEquals(ok.code, 0, ok.stderr);
        assertEquals(ok.stdout.trim(), "fine");
      } finally {
        await c?.stop();
        await run("umount", ["-l", root]);
      }
    });
  },
});
