/**
 * Property tests of src/config: random TOML documents (built from real and
 * near-miss keys with values of every TOML type), random bytes, mutated
 * valid files and random annotation maps must each give either a
 * ConfigError or a configuration in which every key holds a valid value of
 * its type — never another exception. The seed is printed so a failure can
 * be replayed with JOEY_TEST_SEED.
 * @module
 */
import {
  applyAnnotations,
  ConfigError,
  configValue,
  KEYS,
  loadConfig,
  type LoadedConfig,
} from "../../src/config/mod.ts";
import { checkValue, isProblem } from "../../src/config/validate.ts";
import { assert } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const seed = Number(Deno.env.get("JOEY_TEST_SEED") ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough to pick test inputs. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

/** A valid configuration: every key present with a value that passes its check. */
function assertValid(loaded: LoadedConfig, what: string): void {
  for (const spec of KEYS) {
    const value = configValue(loaded.config, spec.key);
    const checked = checkValue(spec, value);
    assert(!isProblem(checked), `${what}: ${spec.key} = ${JSON.stringify(value)} is invalid`);
    assert(loaded.sources[spec.key] !== undefined, `${what}: no source for ${spec.key}`);
  }
}

/** Loads the bytes as a file; returns "error" for a ConfigError, "ok" for a valid config. */
async function outcome(dir: string, bytes: Uint8Array, what: string): Promise<"ok" | "error"> {
  const path = `${dir}/c.toml`;
  await Deno.writeFile(path, bytes);
  try {
    assertValid(await loadConfig({ path, env: {} }), what);
    return "ok";
  } catch (err) {
    if (err instanceof ConfigError) return "error";
    throw new Error(`${what}: ${err} (seed ${seed})`, { cause: err });
  }
}

const KEY_NAMES = KEYS.map((k) => k.key);
const NEAR_MISSES = ["runtime.nme", "hypervisor.qemu.memory", "agent.prt", "x", "runtime.name.x"];

/** A value for key: often one of its type (so valid documents occur), else anything. */
function randomValue(r: () => number, key: string): string {
  const spec = KEYS.find((k) => k.key === key) ?? pick(r, KEYS);
  if (r() < 0.6) {
    if (spec.enum) return JSON.stringify(pick(r, spec.enum));
    if (spec.type === "integer") {
      const lo = spec.min ?? 0, hi = Math.min(spec.max ?? 1e6, lo + 5000);
      return String(lo + Math.floor(r() * (hi - lo + 1)));
    }
    if (spec.type === "boolean") return pick(r, ["true", "false"]);
    if (spec.type === "string[]") return pick(r, ['["runtime.name"]', "[]", '["agent.debug"]']);
    return JSON.stringify(pick(r, ["/usr/bin/x", "", "crun", "a b"]));
  }
  return pick(r, [
    () => String(spec.default === "" ? '""' : JSON.stringify(spec.default)),
    () => (spec.enum ? JSON.stringify(pick(r, spec.enum)) : '"text"'),
    () => String(Math.floor(r() * 5000) - 100),
    () => (r() * 10).toFixed(2),
    () => pick(r, ["true", "false"]),
    () => '["runtime.name", "runtime.debug"]',
    () => "[1, 2]",
    () => "{ a = 1 }",
    () => "1979-05-27T07:32:00Z",
    () => `'${pick(r, ["auto", "qemu", "virt-container", "pod"])}'`,
    () => "inf",
    () => "0x7fffffff",
  ])();
}

function randomDocument(r: () => number): string {
  const lines: string[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const key = r() < 0.85 ? pick(r, KEY_NAMES) : pick(r, NEAR_MISSES);
    const parts = key.split(".");
    if (r() < 0.5 && parts.length > 1) {
      lines.push(`[${parts.slice(0, -1).join(".")}]`, `${parts.at(-1)} = ${randomValue(r, key)}`);
    } else {
      // A dotted key at the top level (before any header, or under a header it extends).
      lines.unshift(`${key} = ${randomValue(r, key)}`);
    }
  }
  return lines.join("\n") + "\n";
}

Deno.test(`random TOML documents give a ConfigError or a valid configuration (seed ${seed})`, async () => {
  console.log(`seed ${seed}`);
  const r = rng(seed);
  const seen = { ok: 0, error: 0 };
  await withTempDir(async (dir) => {
    for (let i = 0; i < 400; i++) {
      const doc = randomDocument(r);
      seen[await outcome(dir, new TextEncoder().encode(doc), `document ${JSON.stringify(doc)}`)]++;
    }
  });
  console.log(`valid ${seen.ok}, rejected ${seen.error}`);
  // Both outcomes must occur, or the generator is not exercising the validator.
  assert(seen.ok > 0 && seen.error > 0, `outcomes ${JSON.stringify(seen)}`);
});

Deno.test(`random bytes and mutated files never crash the loader (seed ${seed})`, async () => {
  const r = rng(seed + 1);
  const base = await Deno.readFile(new URL("../../config/configuration.toml", import.meta.url));
  await withTempDir(async (dir) => {
    for (let i = 0; i < 300; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(r() * 200));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
      } else {
        bytes = base.slice();
        const flips = 1 + Math.floor(r() * 4);
        for (let j = 0; j < flips; j++) {
          bytes[Math.floor(r() * bytes.length)] = pick(r, [
            0x22,
            0x5b,
            0x5d,
            0x3d,
            0x0a,
            0x23,
            0x2e,
            0x31,
            Math.floor(r() * 256),
          ]);
        }
      }
      await outcome(dir, bytes, `bytes ${JSON.stringify([...bytes])}`);
    }
  });
});

Deno.test(`random annotations give a ConfigError or a valid configuration (seed ${seed})`, async () => {
  const r = rng(seed + 2);
  const annotatable = KEYS.filter((k) => k.annotatable).map((k) => k.key);
  const base = await loadConfig({ path: "/dev/null", env: {} });
  base.config.runtime.enable_annotations = annotatable.filter(() => r() < 0.6);
  const values = ["true", "0", "1024", "-3", "qemu", "virt-container", "", "1e3", "always", "x"];
  for (let i = 0; i < 500; i++) {
    const annotations: Record<string, string> = {};
    for (let j = 0; j < 1 + Math.floor(r() * 3); j++) {
      const key = r() < 0.9 ? pick(r, KEY_NAMES) : pick(r, NEAR_MISSES);
      annotations[`io.joey.config.${key}`] = pick(r, values);
    }
    try {
      assertValid(applyAnnotations(base, annotations), JSON.stringify(annotations));
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        throw new Error(`${JSON.stringify(annotations)}: ${err} (seed ${seed})`, { cause: err });
      }
    }
  }
});
