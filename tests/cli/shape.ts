/**
 * A small structural checker for the CLI's documented JSON shapes: a shape
 * is a type name ("string", "number", "boolean", "null"), a union written
 * "string|null", a literal list of allowed strings, an array of one shape,
 * or an object of shapes (every key required, no others allowed).
 * @module
 */
import nodeAssert from "node:assert";

/** A shape description. */
export type Shape = string | readonly string[] | [Shape] | { [key: string]: Shape };

function fail(path: string, message: string): never {
  throw new nodeAssert.AssertionError({ message: `${path || "(root)"}: ${message}` });
}

/** Asserts value has shape; the message names the path of the first difference. */
export function assertShape(value: unknown, shape: Shape, path = ""): void {
  if (typeof shape === "string") {
    const types = shape.split("|");
    const actual = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    if (!types.includes(actual)) fail(path, `expected ${shape}, got ${actual}`);
    return;
  }
  if (Array.isArray(shape) && shape.length === 1 && typeof shape[0] !== "string") {
    if (!Array.isArray(value)) fail(path, "expected an array");
    value.forEach((v, i) => assertShape(v, shape[0] as Shape, `${path}[${i}]`));
    return;
  }
  if (Array.isArray(shape)) {
    if (!shape.includes(value as string)) fail(path, `expected one of ${shape.join(", ")}`);
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, "expected an object");
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(shape)) {
    if (!(key in obj)) fail(`${path}.${key}`, "missing");
    assertShape(obj[key], (shape as Record<string, Shape>)[key]!, `${path}.${key}`);
  }
  for (const key of Object.keys(obj)) {
    if (!(key in shape)) fail(`${path}.${key}`, "not in the documented shape");
  }
}

const verdict = { usable: "boolean", reason: "string" } as const;

/** `joey check --json`, as docs/operator-guide.md documents it. */
export const CHECK_SHAPE: Shape = {
  version: "string",
  config: { path: "string|null", error: "string|null" },
  host: { kernel: "string", arch: "string", cpus: "number" },
  checks: [{
    id: "string",
    title: "string",
    status: ["ok", "warn", "fail", "info"],
    detail: "string",
  }],
  hypervisors: {
    builtin: verdict,
    qemu: { ...verdict, accel: "string|null" },
  },
  auto: { hypervisor: ["builtin", "qemu"], reason: "string" },
  runtimes: { "linux-container": verdict, "virt-container": verdict },
  configured: { runtime: "string", hypervisor: "string", usable: "boolean", reason: "string" },
};

/** `joey version --json`. */
export const VERSION_SHAPE: Shape = {
  version: "string",
  runtime_type: ["io.containerd.joey.v2"],
  shim_binary: ["containerd-shim-joey-v2"],
  deno: "string",
  v8: "string",
  typescript: "string",
  build: ["compiled", "deno"],
};
