/**
 * `containerd-shim-joey-v2 delete` as containerd runs it: after a clean
 * Delete (the daemon left its mark in the bundle) it answers without
 * loading the configuration or a runtime, and the launchers answer without
 * starting Deno at all (src/shim/fast_delete.sh); without the mark (a lost
 * shim) it cleans up through the configured runtime. A broken configuration
 * file tells the paths apart: only the full cleanup reads it.
 */
import { messageType } from "../../src/proto/registry.ts";
import { markDeleted } from "../../src/shim/deleted_mark.ts";
import { DENO_RUN_FLAGS } from "../../src/shim/self.ts";
import { REPO } from "../containerd/harness.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const DeleteResponse = messageType("containerd.task.v2.DeleteResponse");
const DENO = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;

/** The shim's argv for `delete` of container "gone" in bundle. */
const deleteArgs = (bundle: string) => [
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
];

interface DeleteAnswer {
  pid: number;
  exit_status: number;
  exited_at: { seconds: number; nanos: number };
}

/** Checks delete's answer: pid 0, status 128+SIGKILL, exited now. */
function assertAnswer(stdout: Uint8Array, before: number): DeleteAnswer {
  const res = DeleteResponse.decode(stdout) as unknown as DeleteAnswer;
  assertEquals(res.pid, 0);
  assertEquals(res.exit_status, 137);
  assert(Math.abs(res.exited_at.seconds - before / 1000) < 60, "exited_at is now");
  return res;
}

/** main.ts on Deno (no launcher), as `delete` runs where no launcher answers first. */
async function runDelete(bundle: string, config: string) {
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      ...DENO_RUN_FLAGS,
      `${REPO}/main.ts`,
      ...deleteArgs(bundle),
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
    assertAnswer(clean.stdout, before);
    // The mark is used once: another delete of the id cleans up in full again.
    const again = await runDelete(bundle, broken);
    assertEquals(again.code, 1);
  });
});

Deno.test("the launchers' fast path answers a marked delete without Deno, and only that", async () => {
  await withTempDir(async (bundle) => {
    await Deno.writeTextFile(`${bundle}/config.json`, "{}");
    // As the launchers do: source the fast path, then "start Deno" (here: exit 99).
    const launch = async (args: string[], cwd = bundle) => {
      const out = await new Deno.Command("sh", {
        args: ["-c", `. "${REPO}/src/shim/fast_delete.sh"; exit 99`, "sh", ...args],
        cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
    };
    assertEquals((await launch(deleteArgs(bundle))).code, 99, "no mark: Deno cleans up");

    await markDeleted(bundle);
    const before = Date.now();
    const fast = await launch(deleteArgs(bundle));
    assertEquals(fast.code, 0, fast.stderr);
    assertEquals(fast.stderr, "");
    const res = assertAnswer(fast.stdout, before);
    assertEquals(res.exited_at.nanos, 0, "whole seconds");
    // Same bytes as delete.ts's own answer for that second.
    const { encodeDeleteResponse } = await import("../../src/shim/delete_response.ts");
    assertEquals(
      [...fast.stdout],
      [
        ...encodeDeleteResponse({
          pid: 0,
          exitStatus: 137,
          exitedAt: new Date(res.exited_at.seconds * 1000),
        }),
      ],
    );
    // The bundle also comes as the working directory and as -bundle=…; other actions go to Deno.
    const noBundleFlag = deleteArgs(bundle).filter((a) => a !== "-bundle" && a !== bundle);
    assertEquals((await launch(noBundleFlag)).code, 0, "bundle from the working directory");
    assertEquals((await launch(noBundleFlag, "/")).code, 99, "another bundle has no mark");
    assertEquals(
      (await launch([...noBundleFlag.slice(0, -1), `-bundle=${bundle}`, "delete"], "/")).code,
      0,
    );
    assertEquals((await launch([...deleteArgs(bundle).slice(0, -1), "start"])).code, 99);
    assertEquals(
      (await launch(deleteArgs(bundle).filter((a) => a !== "gone" && a !== "-id"))).code,
      99,
      "not a shim call without -id",
    );
  });
});
