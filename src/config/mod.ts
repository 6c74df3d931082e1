/**
 * joey's configuration: a TOML file shaped like Kata's configuration.toml,
 * merged over built-in defaults, then environment variables, then (per pod)
 * the `io.joey.config.*` annotations the file allows. Every value remembers
 * where it came from, which `joey env` prints.
 *
 * The file is `options.path`, else `$JOEY_CONFIG`, else
 * `/etc/joey/configuration.toml` when it exists, else none (defaults only).
 * Unknown keys, wrong types and values out of range are ConfigErrors naming
 * the key, the file and the line.
 *
 * @example
 * ```ts
 * const loaded = await loadConfig();
 * const pod = applyAnnotations(loaded, { "io.joey.config.runtime.name": "virt-container" });
 * console.log(pod.config.runtime.name, pod.sources["runtime.name"]);
 * ```
 * @module
 */
import { JoeyError } from "../errors.ts";
import type { JoeyConfig } from "./types.ts";
import { type ConfigValue, KEY_MAP, KEYS, type KeySpec, SECTIONS } from "./schema.ts";
import { checkValue, isProblem, parseValue } from "./validate.ts";
import { findKeyLine } from "./lines.ts";
import { exists } from "./assets.ts";

export type * from "./types.ts";
export { KEY_MAP, KEYS, type KeySpec } from "./schema.ts";

/** The file read when neither options.path nor $JOEY_CONFIG names one. */
export const DEFAULT_CONFIG_PATH = "/etc/joey/configuration.toml";

/** The prefix of the pod annotations that override configuration keys. */
export const ANNOTATION_PREFIX = "io.joey.config.";

/**
 * Where a value came from; "flag:<--name>" is a `joey` command-line flag
 * (e.g. `joey run --runtime`).
 */
export type ValueSource =
  | "default"
  | `file:${string}`
  | `env:${string}`
  | `annotation:${string}`
  | `flag:${string}`;

/** The effective configuration, where each leaf key came from, and the file read (if any). */
export interface LoadedConfig {
  /** The effective configuration. */
  config: JoeyConfig;
  /** Dotted key → source, for every key in the reference. */
  sources: Record<string, ValueSource>;
  /** The file read, or null when none was (defaults only). */
  path: string | null;
}

/** Where a ConfigError points. */
export interface ConfigErrorLocation {
  /** Dotted key, when the error is about one. */
  key?: string;
  file?: string;
  /** 1-based line in file. */
  line?: number;
}

/** A configuration that cannot be used: unknown key, wrong type, disallowed annotation, bad file. */
export class ConfigError extends JoeyError {
  /** Dotted key the error is about, when it is about one. */
  readonly key?: string;
  /** The configuration file, when the error is in one. */
  readonly file?: string;
  /** 1-based line in file. */
  readonly line?: number;
  /** Always kind "InvalidArgument"; the message names key, file and line where known. */
  constructor(message: string, location: ConfigErrorLocation = {}, options?: ErrorOptions) {
    super("InvalidArgument", message, options);
    this.name = "ConfigError";
    if (location.key !== undefined) this.key = location.key;
    if (location.file !== undefined) this.file = location.file;
    if (location.line !== undefined) this.line = location.line;
  }
}

/** Reads a dotted key from a configuration. */
export function configValue(config: JoeyConfig, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function setValue(config: JoeyConfig, key: string, value: ConfigValue): void {
  const parts = key.split(".");
  let node = config as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = Array.isArray(value) ? [...value] : value;
}

/** The built-in defaults: a configuration that works with no file. */
export function defaultConfig(): JoeyConfig {
  const config = {} as JoeyConfig;
  for (const spec of KEYS) setValue(config, spec.key, spec.default);
  return config;
}

function defaultSources(): Record<string, ValueSource> {
  return Object.fromEntries(KEYS.map((k) => [k.key, "default" as ValueSource]));
}

/** "file:line" for messages, from whatever is known. */
function where(file: string, line: number | null): string {
  return line === null ? file : `${file}:${line}`;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** The keys a table may hold, for "unknown key" messages. */
function knownIn(section: string): string {
  const depth = section === "" ? 0 : section.split(".").length;
  const names = new Set<string>();
  for (const k of [...KEYS.map((s) => s.key), ...SECTIONS]) {
    const parts = k.split(".");
    if (parts.length === depth + 1 && (depth === 0 || k.startsWith(section + "."))) {
      names.add(parts[depth]!);
    }
  }
  return [...names].sort().join(", ");
}

/** Walks a parsed document, checking each key and setting it in config. */
function mergeFile(
  loaded: LoadedConfig,
  doc: Record<string, unknown>,
  file: string,
  source: string,
): void {
  const fail = (key: string, message: string): never => {
    const line = findKeyLine(source, key.split("."));
    throw new ConfigError(`${where(file, line)}: ${message}`, {
      key,
      file,
      ...(line === null ? {} : { line }),
    });
  };
  const walk = (table: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(table)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const spec = KEY_MAP.get(key);
      if (spec) {
        const checked = checkValue(spec, value);
        if (isProblem(checked)) {
          fail(
            key,
            `${checked.wrongType ? "wrong type" : "invalid value"} for "${key}": ` +
              checked.problem,
          );
        } else {
          setValue(loaded.config, key, checked);
          loaded.sources[key] = `file:${file}`;
        }
      } else if (SECTIONS.has(key)) {
        if (!isTable(value)) fail(key, `wrong type for "${key}": expected a table`);
        else walk(value, key);
      } else {
        const section = prefix ? `[${prefix}]` : "the top level";
        fail(key, `unknown key "${key}" (${section} knows: ${knownIn(prefix)})`);
      }
    }
  };
  walk(doc, "");
}

/** Parses and merges the file at path. */
async function readFile(loaded: LoadedConfig, path: string, via: string): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "not found" : String(err);
    throw new ConfigError(`configuration file ${path}${via}: ${why}`, { file: path }, {
      cause: err,
    });
  }
  let source: string;
  try {
    source = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ConfigError(`${path}: not valid UTF-8 text`, { file: path }, { cause: err });
  }
  // The TOML parser loads only when there is a file: with none (the common
  // case for a shim), start-up skips the npm module.
  const { parse, TomlError } = await import("smol-toml");
  let doc: Record<string, unknown>;
  try {
    doc = parse(source) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0];
      throw new ConfigError(`${path}:${err.line}: invalid TOML: ${first}`, {
        file: path,
        line: err.line,
      }, { cause: err });
    }
    // Anything else from the parser (deep nesting, say) is still the file's fault.
    throw new ConfigError(`${path}: invalid TOML: ${err}`, { file: path }, { cause: err });
  }
  mergeFile(loaded, doc, path, source);
  checkAnnotationList(loaded, source);
}

/** runtime.enable_annotations may name only annotatable keys. */
function checkAnnotationList(loaded: LoadedConfig, source: string | null): void {
  for (const key of loaded.config.runtime.enable_annotations) {
    const spec = KEY_MAP.get(key);
    if (spec?.annotatable) continue;
    const file = loaded.path ?? "the environment";
    const line = source === null ? null : findKeyLine(source, ["runtime", "enable_annotations"]);
    const why = spec ? "may not be overridden by a pod" : "is not a configuration key";
    throw new ConfigError(
      `${where(file, line)}: invalid value for "runtime.enable_annotations": "${key}" ${why}`,
      { key: "runtime.enable_annotations", file, ...(line === null ? {} : { line }) },
    );
  }
}

/** Applies the environment variables of the keys that have one. */
function applyEnv(loaded: LoadedConfig, env: Record<string, string>): void {
  for (const spec of KEYS) {
    if (!spec.env) continue;
    const text = env[spec.env];
    if (text === undefined || text === "") continue;
    const value = parseValue(spec, text);
    if (isProblem(value)) {
      throw new ConfigError(`$${spec.env}: invalid value for "${spec.key}": ${value.problem}`, {
        key: spec.key,
      });
    }
    setValue(loaded.config, spec.key, value);
    loaded.sources[spec.key] = `env:${spec.env}`;
  }
}

/**
 * Loads the effective configuration: defaults, then the file (options.path,
 * else $JOEY_CONFIG, else /etc/joey/configuration.toml if it exists), then
 * environment variables. Throws ConfigError for anything it cannot use.
 */
export async function loadConfig(
  options: { path?: string; env?: Record<string, string> } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  let path: string | null = null;
  let via = "";
  if (options.path !== undefined) {
    path = options.path;
  } else if (env.JOEY_CONFIG) {
    path = env.JOEY_CONFIG;
    via = " (from $JOEY_CONFIG)";
  } else if (await exists(DEFAULT_CONFIG_PATH)) {
    path = DEFAULT_CONFIG_PATH;
  }
  const loaded: LoadedConfig = { config: defaultConfig(), sources: defaultSources(), path };
  if (path !== null) await readFile(loaded, path, via);
  applyEnv(loaded, env);
  return loaded;
}

/**
 * Applies a pod's `io.joey.config.<key>` annotations (other annotations are
 * ignored). Each key must be listed in runtime.enable_annotations; values are
 * parsed to the key's type. Returns a new LoadedConfig; `loaded` is not changed.
 */
export function applyAnnotations(
  loaded: LoadedConfig,
  annotations: Record<string, string>,
): LoadedConfig {
  const ours = Object.entries(annotations)
    .filter(([k]) => k.startsWith(ANNOTATION_PREFIX))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (ours.length === 0) return loaded;
  const out: LoadedConfig = {
    config: structuredClone(loaded.config),
    sources: { ...loaded.sources },
    path: loaded.path,
  };
  const allowed = new Set(loaded.config.runtime.enable_annotations);
  const from = loaded.path ?? "the built-in defaults";
  for (const [annotation, text] of ours) {
    const key = annotation.slice(ANNOTATION_PREFIX.length);
    const spec: KeySpec | undefined = KEY_MAP.get(key);
    if (!spec) {
      throw new ConfigError(`annotation "${annotation}": "${key}" is not a configuration key`, {
        key,
      });
    }
    if (!allowed.has(key)) {
      throw new ConfigError(
        `annotation "${annotation}" is not allowed: "${key}" is not listed in ` +
          `runtime.enable_annotations (${from})`,
        { key },
      );
    }
    const value = parseValue(spec, String(text));
    if (isProblem(value)) {
      throw new ConfigError(
        `annotation "${annotation}": invalid value for "${key}": ${value.problem}`,
        { key },
      );
    }
    setValue(out.config, key, value);
    out.sources[key] = `annotation:${annotation}`;
  }
  return out;
}

/**
 * Overrides one key with a string (a command-line flag's value), parsed and
 * checked as an annotation would be. Returns a new LoadedConfig.
 */
export function applyOverride(
  loaded: LoadedConfig,
  key: string,
  text: string,
  source: ValueSource,
): LoadedConfig {
  const spec = KEY_MAP.get(key);
  if (!spec) throw new ConfigError(`"${key}" is not a configuration key`, { key });
  const value = parseValue(spec, text);
  if (isProblem(value)) {
    throw new ConfigError(`${source}: invalid value for "${key}": ${value.problem}`, { key });
  }
  const out: LoadedConfig = {
    config: structuredClone(loaded.config),
    sources: { ...loaded.sources, [key]: source },
    path: loaded.path,
  };
  setValue(out.config, key, value);
  return out;
}
