/**
 * Checks values against the key table (src/config/schema.ts): TOML values
 * from the file, and strings from environment variables and annotations,
 * which are parsed to the key's type first. Each check returns the value or
 * a sentence saying what was expected; the caller turns that into a
 * ConfigError naming the key and where it came from.
 * @module
 */
import type { ConfigValue, KeySpec } from "./schema.ts";

/**
 * What was wrong with a value, in words (no key or location: the caller adds
 * those); wrongType tells a value of the wrong type from one out of range.
 */
export type Problem = { problem: string; wrongType: boolean };

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null || value === undefined) return "nothing";
  if (value instanceof Date) return "a date";
  if (typeof value === "object") return "a table";
  if (typeof value === "number" || typeof value === "bigint") {
    return Number.isInteger(value) || typeof value === "bigint" ? "an integer" : "a float";
  }
  const shown = JSON.stringify(value);
  return `a ${typeof value} (${shown.length > 40 ? shown.slice(0, 37) + "…" : shown})`;
}

function expected(spec: KeySpec): string {
  switch (spec.type) {
    case "boolean":
      return "a boolean (true or false)";
    case "integer":
      return `an integer from ${spec.min ?? "-∞"} to ${spec.max ?? "∞"}`;
    case "string[]":
      return "an array of strings";
    case "string":
      return spec.enum ? `one of ${spec.enum.map((e) => `"${e}"`).join(", ")}` : "a string";
  }
}

/** Checks a value as the TOML parser produced it. */
export function checkValue(spec: KeySpec, value: unknown): ConfigValue | Problem {
  const wrong = { problem: `expected ${expected(spec)}, got ${describe(value)}`, wrongType: true };
  const invalid = { ...wrong, wrongType: false };
  switch (spec.type) {
    case "boolean":
      return typeof value === "boolean" ? value : wrong;
    case "integer": {
      // smol-toml gives numbers (or bigints past 2^53); floats are not integers.
      const n = typeof value === "bigint" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) return wrong;
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        return { problem: `expected ${expected(spec)}, got ${String(value)}`, wrongType: false };
      }
      return n;
    }
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
        ? [...value] as string[]
        : wrong;
    case "string":
      if (typeof value !== "string") return wrong;
      if (spec.enum && !spec.enum.includes(value)) return invalid;
      if (value.includes("\0")) {
        return { problem: "expected a string without NUL characters", wrongType: false };
      }
      return value;
  }
}

/** Parses a string (environment variable or annotation value) to the key's type. */
export function parseValue(spec: KeySpec, text: string): ConfigValue | Problem {
  switch (spec.type) {
    case "boolean":
      if (text === "true" || text === "1") return true;
      if (text === "false" || text === "0") return false;
      return { problem: `expected true or false, got ${JSON.stringify(text)}`, wrongType: true };
    case "integer":
      if (!/^-?[0-9]+$/.test(text.trim())) {
        return {
          problem: `expected ${expected(spec)}, got ${JSON.stringify(text)}`,
          wrongType: true,
        };
      }
      return checkValue(spec, Number(text.trim()));
    case "string[]":
      return text.trim() === "" ? [] : text.split(",").map((s) => s.trim());
    case "string":
      return checkValue(spec, text);
  }
}

/** True when a check failed. */
export function isProblem(v: ConfigValue | Problem): v is Problem {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
