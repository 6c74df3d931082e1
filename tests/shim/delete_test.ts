/**
 * `containerd-shim-joey-v2 delete` as containerd runs it: after a clean
 * Delete (the daemon left its mark in the bundle) it answers without
 * loading the configuration or a runtime; without the mark (a lost shim)
 * it cleans up through the configured runtime. A broken configuration file
 * tells the two paths apart: only the full cleanup reads it.
 */
import { messageType } from "../../src/proto/registry.ts";
import { markDeleted } from "../../src/shim/deleted_mark.ts";
import { shimBinDir } from "../containerd/harness.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const DeleteResponse = messageType("containerd.task.v2.DeleteResponse");

async function runDelete(bundle: string, config: string) {
  const shim = `${await shimBinDir()}/containerd-shim-joey-v2`;
  const child = new Deno.Command(shim, {
    args: [
      "-namespace",
      "joeytest-delete",
      "-address",
      `${bundle}/no-containerd.sock`,
      "-publish-binary",
      "/bin/false",
      "-id",
      "gone",
      "-bundle",
      bundle,
      "delete",
    ],
    cwd: bundle,
    env: { JOEY_CONFIG: config, JOEY_RUNTIME: "linux-container" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("delete after a clean Delete answers from the mark, without the configuration", async () => {
  await withTempDir(async (bundle) => {
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
    const broken = `${bundle}/broken.toml`;
    await Deno.writeTextFile(broken, "this is [not toml\n");

    // No mark: the lost-shim path loads the configuration, which fails.
    const lost = await runDelete(bundle, broken);
    assertEquals(lost.code, 1, "the full cleanup reads the configuration");
    assertIncludes(lost.stderr, "invalid TOML");

    await markDeleted(bundle);
    const before = Date.now();
    const clean = await runDelete(bundle, broken);
    assertEquals(clean.code, 0, clean.stderr);
    assertEquals(clean.stderr, "", "nothing but the response");
    const res = DeleteResponse.decode(clean.stdout) as {
      pid: number;
      exit_status: number;
      exited_at: { seconds: number };
    };
    assertEquals(res.pid, 0);
    assertEquals(res.exit_status, 137);
    assert(Math.abs(res.exited_at.seconds - before / 1000) < 60, "exited_at is now");
    // The mark is used once: another delete of the id cleans up in full again.
    const again = await runDelete(bundle, broken);
    assertEquals(again.code, 1);
  });
});
