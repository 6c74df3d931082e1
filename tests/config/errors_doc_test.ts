/**
 * The error messages documented in docs/configuration.md ("## Errors") are
 * the ones joey gives: each row's template (with <file>, <line>, <path> and
 * … as wildcards) must match the message of a scenario that causes it, and
 * every row has a scenario.
 * @module
 */
import { applyAnnotations, ConfigError, loadConfig } from "../../src/config/mod.ts";
import { assert, assertEquals } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const docs = await Deno.readTextFile(new URL("../../docs/configuration.md", import.meta.url));

/** problem → documented message template, from the Errors table. */
function documented(): Map<string, string> {
  const section = docs.slice(docs.indexOf("## Errors"), docs.indexOf("## Annotations"));
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const m = /^\|\s*([^|]+?)\s*\|\s*`(.+)`\s*\|$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  return rows;
}

function templateRegExp(template: string): RegExp {
  const escaped = template.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    "^" + escaped
      .replaceAll("<file>", ".+").replaceAll("<path>", ".+").replaceAll("<line>", "\\d+")
      .replaceAll("…", ".*") +
      "$",
    "s",
  );
}

async function errorOf(fn: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err.message;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("every documented configuration error is the message joey gives", () =>
  withTempDir(async (dir) => {
    const file = async (text: string) => {
      const path = `${dir}/c-${crypto.randomUUID()}.toml`;
      await Deno.writeTextFile(path, text);
      return path;
    };
    const load = async (text: string) => loadConfig({ path: await file(text), env: {} });
    const allowing = async (keys: string[]) =>
      await load(`[runtime]\nenable_annotations = ${JSON.stringify(keys)}\n`);
    const scenarios: Record<string, () => Promise<unknown> | unknown> = {
      "unknown key or section": () => load("[hypervisor.qemu]\nmemroy = 1\n"),
      "wrong type": () => load('[runtime]\ndebug = "yes"\n'),
      "value out of range / not one of the choices": () =>
        load("[hypervisor.builtin]\ndefault_vcpus = 0\n"),
      "TOML syntax": () => load("[runtime\n"),
      "file missing": () => loadConfig({ env: { JOEY_CONFIG: `${dir}/missing.toml` } }),
      "bad environment variable": () =>
        loadConfig({ path: "/dev/null", env: { JOEY_DEBUG: "yes" } }),
      "key not overridable": () => allowing(["runtime.state_dir"]),
      "annotation not allowed": async () =>
        applyAnnotations(await allowing([]), { "io.joey.config.runtime.name": "virt-container" }),
      "annotation value invalid": async () =>
        applyAnnotations(await allowing(["runtime.debug"]), {
          "io.joey.config.runtime.debug": "maybe",
        }),
    };
    const rows = documented();
    assertEquals([...rows.keys()].sort(), Object.keys(scenarios).sort());
    for (const [problem, template] of rows) {
      const message = await errorOf(scenarios[problem]!);
      assert(
        templateRegExp(template).test(message),
        `${problem}: ${JSON.stringify(message)} does not match the documented ${template}`,
      );
    }
  }));
