/**
 * `make dist`: where it can build the single executable (DENORT_BIN set, or
 * denort in Deno's cache), the result runs as `joey` and, under its second
 * name, as the shim; where it cannot, make stops with the documented
 * message, and the test says why it skips.
 * @module
 */
import { fileURLToPath } from "node:url";
import { assertEquals, assertIncludes } from "../lib/assert.ts";
import { assertShape, CHECK_SHAPE, VERSION_SHAPE } from "../cli/shape.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const dec = new TextDecoder();

const make = await new Deno.Command("make", {
  args: ["-s", "dist-only"],
  cwd: REPO,
  stdout: "piped",
  stderr: "piped",
}).output();
const makeErr = dec.decode(make.stderr);
const skip = make.success ? null : "make dist could not build the executable: " +
  (makeErr.includes("needs Deno's runtime 'denort'")
    ? "no denort (DENORT_BIN unset, Deno's download host unreachable)"
    : makeErr.trim().split("\n").slice(-3).join(" "));
if (skip) console.log(`dist tests skipped: ${skip}`);

Deno.test("make dist without denort stops with the documented message", {
  ignore: make.success,
}, () => {
  assertIncludes(makeErr, "make dist: deno compile needs Deno's runtime 'denort'");
  assertIncludes(makeErr, "Set DENORT_BIN=/path/to/denort");
  assertIncludes(makeErr, "make install still works");
});

async function run(exe: string, args: string[]) {
  const out = await new Deno.Command(exe, {
    args,
    cwd: "/",
    env: { JOEY_CONFIG: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "the compiled executable is joey and, under its second name, the shim",
  ignore: skip !== null,
  fn: async () => {
    const v = await run(`${REPO}/dist/joey`, ["version", "--json"]);
    assertEquals(v.code, 0, v.stderr);
    const info = JSON.parse(v.stdout);
    assertShape(info, VERSION_SHAPE);
    assertEquals(info.build, "compiled");
    const shim = await run(`${REPO}/dist/containerd-shim-joey-v2`, ["-v"]);
    assertIncludes(shim.stdout, "io.containerd.joey.v2");
    const check = await run(`${REPO}/dist/joey`, ["check", "--json"]);
    assertShape(JSON.parse(check.stdout), CHECK_SHAPE);
    const usage = await run(`${REPO}/dist/joey`, ["nope"]);
    assertEquals(usage.code, 2);
  },
});
