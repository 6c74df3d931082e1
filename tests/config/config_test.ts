/**
 * Unit tests of src/config: defaults, file/env precedence and sources, the
 * documented errors (unknown key, wrong type, disallowed annotation) with
 * key, file and line, and annotation overrides.
 * @module
 */
import {
  applyAnnotations,
  ConfigError,
  configValue,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  KEYS,
  loadConfig,
} from "../../src/config/mod.ts";
import { findKeyLine } from "../../src/config/lines.ts";
import {
  assert,
  assertEquals,
  assertIncludes,
  assertRejects,
  assertThrows,
} from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

/** Loads `text` as a configuration file with no environment. */
function loadText(text: string, env: Record<string, string> = {}) {
  return withTempDir(async (dir) => {
    const path = `${dir}/configuration.toml`;
    await Deno.writeTextFile(path, text);
    return { path, loaded: await loadConfig({ path, env }) };
  });
}

/** The ConfigError that loading `text` gives, with the file's path. */
function loadError(text: string): Promise<{ err: ConfigError; path: string }> {
  return withTempDir(async (dir) => {
    const path = `${dir}/configuration.toml`;
    await Deno.writeTextFile(path, text);
    const err = await assertRejects(() => loadConfig({ path, env: {} }), ConfigError);
    return { err, path };
  });
}

Deno.test("loadConfig() gives the documented defaults with no file", async () => {
  const hasSystemFile = await Deno.stat(DEFAULT_CONFIG_PATH).then(() => true, () => false);
  const loaded = await loadConfig({ env: {} });
  if (hasSystemFile) {
    assertEquals(loaded.path, DEFAULT_CONFIG_PATH);
    return;
  }
  assertEquals(loaded.path, null);
  const c = loaded.config;
  assertEquals(c.runtime, {
    name: "virt-container",
    shim_mode: "pod",
    enable_annotations: [],
    debug: false,
    state_dir: "/run/joey",
  });
  assertEquals(c.linux_container, { oci_runtime: "runc", root: "/run/joey/runc" });
  assertEquals(c.hypervisor.name, "auto");
  assertEquals(c.hypervisor.qemu.machine_type, "microvm");
  assertEquals(c.agent.port, 1024);
  for (const spec of KEYS) assertEquals(loaded.sources[spec.key], "default", spec.key);
});

Deno.test("loadConfig() merges the file over defaults and records its path as the source", async () => {
  const { path, loaded } = await loadText(
    '[runtime]\nname = "virt-container"\n\n[hypervisor.qemu]\ndefault_memory = 512\n',
  );
  assertEquals(loaded.path, path);
  assertEquals(loaded.config.runtime.name, "virt-container");
  assertEquals(loaded.config.hypervisor.qemu.default_memory, 512);
  assertEquals(loaded.config.hypervisor.builtin.default_memory, 256);
  assertEquals(loaded.sources["runtime.name"], `file:${path}`);
  assertEquals(loaded.sources["hypervisor.qemu.default_memory"], `file:${path}`);
  assertEquals(loaded.sources["runtime.debug"], "default");
});

Deno.test("loadConfig() reads the file named by $JOEY_CONFIG, and env vars override it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/c.toml`;
    await Deno.writeTextFile(path, "[runtime]\ndebug = false\nstate_dir = '/tmp/x'\n");
    const loaded = await loadConfig({ env: { JOEY_CONFIG: path, JOEY_DEBUG: "true" } });
    assertEquals(loaded.path, path);
    assertEquals(loaded.config.runtime.debug, true);
    assertEquals(loaded.sources["runtime.debug"], "env:JOEY_DEBUG");
    assertEquals(loaded.config.runtime.state_dir, "/tmp/x");
    assertEquals(loaded.sources["runtime.state_dir"], `file:${path}`);
  });
});

Deno.test("loadConfig() rejects a bad environment value naming the variable", async () => {
  const err = await assertRejects(
    () => loadConfig({ path: "/dev/null", env: { JOEY_RUNTIME: "docker" } }),
    ConfigError,
  );
  assertIncludes(err.message, "$JOEY_RUNTIME");
  assertIncludes(err.message, '"runtime.name"');
  assertEquals(err.kind, "InvalidArgument");
});

Deno.test("an unknown key is an error naming the key, the file and the line", async () => {
  const { err, path } = await loadError(
    '# comment\n[runtime]\nname = "linux-container"\n\n[hypervisor.qemu]\nmemroy = 1\n',
  );
  assertEquals(err.key, "hypervisor.qemu.memroy");
  assertEquals(err.file, path);
  assertEquals(err.line, 6);
  assertIncludes(err.message, `${path}:6: unknown key "hypervisor.qemu.memroy"`);
  assertIncludes(err.message, "default_memory");
});

Deno.test("an unknown section is an error at its header", async () => {
  const { err, path } = await loadError('[runtime]\nname = "wasm"\n[hypervisr]\nname = "qemu"\n');
  assertEquals(err.key, "hypervisr");
  assertIncludes(err.message, `${path}:3: unknown key "hypervisr"`);
});

Deno.test("a wrong type is an error naming the key, the file and the line", async () => {
  const { err, path } = await loadError('[runtime]\nname = "linux-container"\ndebug = "yes"\n');
  assertEquals(err.key, "runtime.debug");
  assertEquals(err.line, 3);
  assertEquals(err.kind, "InvalidArgument");
  assertEquals(
    err.message,
    `${path}:3: wrong type for "runtime.debug": expected a boolean (true or false), got a string ("yes")`,
  );
});

Deno.test("wrong types: float for integer, table for value, value for table, array of tables", async () => {
  const cases: [string, string, number][] = [
    ["[agent]\nport = 1.5\n", "agent.port", 2],
    ["runtime = 3\n", "runtime", 1],
    ["[runtime.name]\nx = 1\n", "runtime.name", 1],
    ['[[runtime]]\nname = "wasm"\n', "runtime", 1],
    ["[runtime]\nenable_annotations = [1, 2]\n", "runtime.enable_annotations", 2],
    ["[runtime]\nstate_dir = 1979-05-27\n", "runtime.state_dir", 2],
  ];
  for (const [text, key, line] of cases) {
    const { err } = await loadError(text);
    assertEquals(err.key, key, text);
    assertEquals(err.line, line, text);
    assertIncludes(err.message, `wrong type for "${key}"`);
  }
});

Deno.test("values out of range or outside an enum are invalid values with their line", async () => {
  const { err } = await loadError("[hypervisor]\n[hypervisor.builtin]\ndefault_vcpus = 0\n");
  assertEquals(err.line, 3);
  assertIncludes(err.message, 'invalid value for "hypervisor.builtin.default_vcpus"');
  const { err: e2 } = await loadError('hypervisor.name = "firecracker"\n');
  assertEquals(e2.line, 1);
  assertIncludes(e2.message, '"auto", "builtin", "qemu"');
});

Deno.test("keys written as dotted keys and inline tables are found on their line", async () => {
  const { err } = await loadError('[hypervisor]\nqemu.accel = "hvf"\n');
  assertEquals(err.line, 2);
  const { err: e2 } = await loadError("\n\nagent = { port = 1, debg = true }\n");
  assertEquals(e2.key, "agent.debg");
  assertEquals(e2.line, 3);
});

Deno.test("a missing file, invalid TOML and non-UTF-8 bytes are ConfigErrors", async () => {
  const missing = await assertRejects(
    () => loadConfig({ env: { JOEY_CONFIG: "/nonexistent/joey.toml" } }),
    ConfigError,
  );
  assertIncludes(missing.message, "/nonexistent/joey.toml (from $JOEY_CONFIG): not found");
  const { err } = await loadError('[runtime]\nname = "x\n');
  assertEquals(err.line, 2);
  assertIncludes(err.message, "invalid TOML");
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/bad.toml`, new Uint8Array([0x61, 0x3d, 0xff, 0xfe]));
    const e = await assertRejects(() => loadConfig({ path: `${dir}/bad.toml`, env: {} }));
    assert(e instanceof ConfigError);
    assertIncludes(e.message, "UTF-8");
  });
});

Deno.test("enable_annotations may list only keys a pod may override", async () => {
  const { err } = await loadError('[runtime]\n\nenable_annotations = ["runtime.state_dir"]\n');
  assertEquals(err.key, "runtime.enable_annotations");
  assertEquals(err.line, 3);
  assertIncludes(err.message, '"runtime.state_dir" may not be overridden by a pod');
  const { err: e2 } = await loadError('[runtime]\nenable_annotations = ["runtime.nope"]\n');
  assertIncludes(e2.message, '"runtime.nope" is not a configuration key');
});

Deno.test("applyAnnotations() applies allowed keys, parsed to their type, with sources", async () => {
  const { loaded } = await loadText(
    '[runtime]\nenable_annotations = ["runtime.name", "hypervisor.qemu.default_memory", "runtime.debug"]\n',
  );
  const before = structuredClone(loaded);
  const pod = applyAnnotations(loaded, {
    "io.joey.config.runtime.name": "virt-container",
    "io.joey.config.hypervisor.qemu.default_memory": "1024",
    "io.joey.config.runtime.debug": "true",
    "io.kubernetes.cri.sandbox-id": "abc",
  });
  assertEquals(pod.config.runtime.name, "virt-container");
  assertEquals(pod.config.hypervisor.qemu.default_memory, 1024);
  assertEquals(pod.config.runtime.debug, true);
  assertEquals(pod.sources["runtime.name"], "annotation:io.joey.config.runtime.name");
  assertEquals(loaded, before, "the loaded configuration is not changed");
  assert(applyAnnotations(loaded, { "other": "x" }) === loaded);
});

Deno.test("an annotation that is not allowed is an error naming the annotation", async () => {
  const { path, loaded } = await loadText('[runtime]\nenable_annotations = ["runtime.debug"]\n');
  const err = assertThrows(
    () => applyAnnotations(loaded, { "io.joey.config.runtime.name": "virt-container" }),
    ConfigError,
  );
  assertEquals(
    err.message,
    `annotation "io.joey.config.runtime.name" is not allowed: "runtime.name" is not listed in ` +
      `runtime.enable_annotations (${path})`,
  );
  assertEquals(err.kind, "InvalidArgument");
  const bad = assertThrows(
    () => applyAnnotations(loaded, { "io.joey.config.runtime.debug": "maybe" }),
    ConfigError,
  );
  assertIncludes(bad.message, 'invalid value for "runtime.debug"');
  const unknown = assertThrows(
    () => applyAnnotations(loaded, { "io.joey.config.runtime.nope": "1" }),
    ConfigError,
  );
  assertIncludes(unknown.message, '"runtime.nope" is not a configuration key');
});

Deno.test("configValue() reads dotted keys; defaultConfig() returns fresh objects", () => {
  const a = defaultConfig();
  a.runtime.enable_annotations.push("runtime.name");
  const b = defaultConfig();
  assertEquals(b.runtime.enable_annotations, []);
  assertEquals(configValue(b, "hypervisor.qemu.accel"), "auto");
  assertEquals(configValue(b, "no.such.key"), undefined);
});

Deno.test("findKeyLine() handles headers, quoted and dotted keys, and multi-line strings", () => {
  const src = [
    "[a]", // 1
    'x = """', // 2
    "y = 1", // 3: inside the string
    '"""', // 4
    "y = 2", // 5
    '[ "b" . c ]', // 6
    "'d'.e = 1", // 7
  ].join("\n");
  assertEquals(findKeyLine(src, ["a", "y"]), 5);
  assertEquals(findKeyLine(src, ["b", "c"]), 6);
  assertEquals(findKeyLine(src, ["b", "c", "d", "e"]), 7);
  assertEquals(findKeyLine(src, ["b", "c", "d", "zz"]), 6, "nearest defined ancestor");
  assertEquals(findKeyLine(src, ["q"]), null);
});
