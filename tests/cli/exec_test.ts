/**
 * `joey exec`: a command inside a running linux-container container (found
 * in the OCI runtime's state) with its exit status; a clear NotFound for an
 * unknown id; and a virt-container sandbox is found under state_dir (the
 * command inside the VM is tested in exec_vm_test.ts).
 * @module
 */
import { makeBusyboxRootfs } from "../containerd/image.ts";
import { assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { containerSkipReason, joey, RunningJoey } from "./joey.ts";

const skip = await containerSkipReason();
if (skip) console.log(`exec tests skipped: ${skip}`);

Deno.test("joey exec names where it looked when the id is unknown", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/c.toml`;
    await Deno.writeTextFile(
      path,
      `[runtime]\nstate_dir = "${dir}/state"\n[linux_container]\nroot = "${dir}/runc"\n`,
    );
    const r = await joey(["exec", "--config", path, "nosuch", "--", "true"]);
    assertEquals(r.code, 1);
    assertIncludes(r.stderr, `no sandbox or container "nosuch": not in ${dir}/state/`);
    assertIncludes(r.stderr, `${dir}/runc/*/`);
  });
});

Deno.test("joey exec finds a virt-container sandbox under state_dir", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/state/sbx1`, { recursive: true });
    const path = `${dir}/c.toml`;
    await Deno.writeTextFile(path, `[runtime]\nstate_dir = "${dir}/state"\n`);
    const r = await joey(["exec", "--config", path, "sbx1"]);
    assertEquals(r.code, 1);
    assertIncludes(r.stderr, `sandbox "sbx1" found at ${dir}/state/sbx1`);
    assertIncludes(r.stderr, "agent client");
  });
});

Deno.test({
  name: "joey exec runs a command in a running linux-container container",
  ignore: skip !== null,
  fn: () =>
    withTempDir(async (dir) => {
      await makeBusyboxRootfs(`${dir}/rootfs`);
      const id = `clitest-exec-${crypto.randomUUID().slice(0, 6)}`;
      const script = 'trap "exit 0" TERM; echo up; while :; do sleep 0.1; done';
      const runner = new RunningJoey(
        ["run", "--name", id, "--rootfs", `${dir}/rootfs`, "--", "sh", "-c", script],
      );
      try {
        assertEquals(await runner.read(), "up\n");
        await waitFor(
          async () => (await joey(["exec", id, "--", "true"])).code === 0,
          "the container to accept exec",
        );
        const r = await joey([
          "exec",
          id,
          "--",
          "sh",
          "-c",
          "cat /proc/1/cmdline | tr '\\0' ' '; exit 5",
        ]);
        assertEquals(r.code, 5, r.stderr);
        assertIncludes(r.stdout, `sh -c ${script}`);
        const ns = await joey(["exec", "--ns", "joey-run", "-T", id, "--", "echo", "hi"]);
        assertEquals(ns.stdout, "hi\n");
        // --user/--env/--cwd reach the OCI runtime's exec (the same flags as for a VM sandbox).
        const as = await joey(
          ["exec", "-u", "65534:65534", "-e", "X=set-by-flag", "-w", "/tmp", id, "--"].concat(
            ["sh", "-c", 'echo "$(id -u) $(id -g) $X $(pwd)"'],
          ),
        );
        assertEquals([as.stdout, as.code], ["65534 65534 set-by-flag /tmp\n", 0], as.stderr);
        const wrongNs = await joey(["exec", "--ns", "other", id, "--", "true"]);
        assertEquals(wrongNs.code, 1);
      } finally {
        await runner.close();
      }
    }),
});
