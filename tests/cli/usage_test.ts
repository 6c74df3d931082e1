/**
 * The joey CLI as a process: help for every command, usage errors (exit 2,
 * on stderr), `version` and `env` in text and JSON (validated against the
 * documented shapes), and configuration errors naming key, file and line.
 * @module
 */
import { KEYS } from "../../src/config/mod.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { joey } from "./joey.ts";
import { assertShape, VERSION_SHAPE } from "./shape.ts";

const COMMANDS = ["check", "env", "run", "exec", "version"];

Deno.test("joey --help and help <cmd> and <cmd> --help print usage on stdout, exit 0", async () => {
  const top = await joey(["--help"]);
  assertEquals(top.code, 0);
  for (const cmd of COMMANDS) assertIncludes(top.stdout, `  ${cmd}`);
  for (const cmd of COMMANDS) {
    const a = await joey([cmd, "--help"]);
    assertEquals(a.code, 0, `${cmd} --help: ${a.stderr}`);
    assertIncludes(a.stdout, `Usage: joey ${cmd}`);
    const b = await joey(["help", cmd]);
    assertEquals(b.stdout, a.stdout);
  }
});

Deno.test("usage errors go to stderr with exit code 2", async () => {
  const cases: [string[], string][] = [
    [[], "no command given"],
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["help", "frobnicate"], 'unknown command "frobnicate"'],
    [["version", "--bogus"], "Unknown option '--bogus'"],
    [["env", "--json=3"], "--json"],
    [["check", "--config"], "--config"],
    [["env", "extra"], 'unexpected argument "extra"'],
    [["run", "--", "true"], "give exactly one of --rootfs DIR and --image OCI-ARCHIVE"],
    [["run", "--rootfs", "/", "--image", "x", "--", "true"], "give exactly one"],
    [["run", "--rootfs", "/tmp", "-v", "relative:/x", "--", "true"], 'bad volume "relative:/x"'],
    [["run", "--rootfs", "/tmp", "--runtime", "docker"], 'bad --runtime "docker"'],
    [["run", "--rootfs", "/tmp", "-e", "NOEQUALS"], 'bad --env "NOEQUALS"'],
    [["exec"], "missing the sandbox or container id"],
    [["exec", "-t", "-T", "x"], "give -t or -T, not both"],
  ];
  for (const [args, message] of cases) {
    const r = await joey(args);
    assertEquals(r.code, 2, `joey ${args.join(" ")}: ${r.stderr}`);
    assertEquals(r.stdout, "", `joey ${args.join(" ")} printed on stdout`);
    assertIncludes(r.stderr, message);
    assertIncludes(r.stderr, "Usage: joey");
  }
});

Deno.test("joey version prints the version; --json has the documented shape", async () => {
  const text = await joey(["version"]);
  assertEquals(text.code, 0);
  assert(/^joey \d+\.\d+\.\d+\n/.test(text.stdout), text.stdout);
  assertIncludes(text.stdout, "io.containerd.joey.v2");
  const json = await joey(["version", "--json"]);
  const v = JSON.parse(json.stdout);
  assertShape(v, VERSION_SHAPE);
  assertEquals(v.build, "deno");
  assertEquals(v.deno, Deno.version.deno);
  assertEquals((await joey(["--version"])).stdout, text.stdout);
});

Deno.test("joey env shows every key with its source: default, file and env", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/joey.toml`;
    await Deno.writeTextFile(path, "[hypervisor.qemu]\ndefault_memory = 768\n");
    const r = await joey(["env", "--json", "--config", path], { env: { JOEY_DEBUG: "true" } });
    assertEquals(r.code, 0, r.stderr);
    const env = JSON.parse(r.stdout);
    assertShape(env, { path: "string", config: "object", sources: "object" });
    assertEquals(env.path, path);
    assertEquals(env.config.hypervisor.qemu.default_memory, 768);
    assertEquals(env.sources["hypervisor.qemu.default_memory"], `file:${path}`);
    assertEquals(env.config.runtime.debug, true);
    assertEquals(env.sources["runtime.debug"], "env:JOEY_DEBUG");
    assertEquals(env.sources["runtime.name"], "default");
    assertEquals(Object.keys(env.sources).sort(), KEYS.map((k) => k.key).sort());
    // The same through $JOEY_CONFIG, as text: one line per key with its source.
    const text = await joey(["env"], { env: { JOEY_CONFIG: path } });
    assertEquals(text.code, 0);
    assertIncludes(text.stdout, `# configuration file: ${path}`);
    const line = text.stdout.split("\n").find((l) =>
      l.startsWith("hypervisor.qemu.default_memory")
    );
    assert(line && /= 768\s+# file:/.test(line), `line: ${line}`);
    assertEquals(text.stdout.split("\n").length, KEYS.length + 1 + 1);
  });
});

Deno.test("joey env -a shows what a pod's annotations give, or why they are refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/joey.toml`;
    await Deno.writeTextFile(path, '[runtime]\nenable_annotations = ["runtime.name"]\n');
    const ok = await joey([
      "env",
      "--json",
      "--config",
      path,
      "-a",
      "io.joey.config.runtime.name=virt-container",
      "-a",
      "io.kubernetes.cri.sandbox-id=abc",
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const env = JSON.parse(ok.stdout);
    assertEquals(env.config.runtime.name, "virt-container");
    assertEquals(env.sources["runtime.name"], "annotation:io.joey.config.runtime.name");
    const refused = await joey([
      "env",
      "--config",
      path,
      "-a",
      "io.joey.config.runtime.debug=true",
    ]);
    assertEquals(refused.code, 1);
    assertIncludes(
      refused.stderr,
      'annotation "io.joey.config.runtime.debug" is not allowed: "runtime.debug" is not listed',
    );
    const bad = await joey(["env", "-a", "novalue"]);
    assertEquals(bad.code, 2);
  });
});

Deno.test("configuration errors stop commands with exit 1 naming the key, file and line", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/joey.toml`;
    await Deno.writeTextFile(path, '[runtime]\nname = "linux-container"\nfrobnicate = 1\n');
    const unknown = await joey(["env"], { env: { JOEY_CONFIG: path } });
    assertEquals(unknown.code, 1);
    assertIncludes(unknown.stderr, `joey: ${path}:3: unknown key "runtime.frobnicate"`);
    await Deno.writeTextFile(path, "[agent]\n\ndebug = 1\n");
    const wrong = await joey(["env", "--config", path]);
    assertEquals(wrong.code, 1);
    assertIncludes(wrong.stderr, `${path}:3: wrong type for "agent.debug"`);
    const missing = await joey(["env", "--config", `${dir}/nope.toml`]);
    assertEquals(missing.code, 1);
    assertIncludes(missing.stderr, `${dir}/nope.toml: not found`);
  });
});
