/**
 * Runtimes by name, and the selector that picks one per pod from the
 * configuration and the pod's `io.joey.config.*` annotations. Runtime
 * modules load on first use, so a shim pays only for the runtime it serves.
 * @module
 */
import { JoeyError } from "../errors.ts";
import { applyAnnotations, type LoadedConfig } from "../config/mod.ts";
import type { RuntimeFactory, RuntimeHandler, RuntimeListener } from "./mod.ts";

/** Loads the factory of a runtime by its configured name. */
export async function runtimeFactory(name: string): Promise<RuntimeFactory> {
  switch (name) {
    case "linux-container":
      return (await import("./linux_container/mod.ts")).linuxContainerFactory;
    case "virt-container":
      return (await import("./virt_container/mod.ts")).virtContainerFactory;
    case "wasm":
      throw new JoeyError("Unimplemented", `runtime "wasm": reserved, not implemented yet`);
    default:
      throw new JoeyError("InvalidArgument", `unknown runtime "${name}" in [runtime] name`);
  }
}

/** The pod annotations joey reads for configuration overrides. */
export function configAnnotations(spec: Record<string, unknown>): Record<string, string> {
  const annotations = (spec.annotations ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (k.startsWith("io.joey.config.") && typeof v === "string") out[k] = v;
  }
  return out;
}

/** Picks and creates runtime handlers; one handler per runtime name per shim. */
export class RuntimeSelector {
  #loaded: LoadedConfig;
  #listener: RuntimeListener;
  #namespace: string;
  #handlers = new Map<string, Promise<RuntimeHandler>>();

  constructor(loaded: LoadedConfig, listener: RuntimeListener, namespace: string) {
    this.#loaded = loaded;
    this.#listener = listener;
    this.#namespace = namespace;
  }

  /** The effective configuration for a container's spec (annotations applied). */
  configFor(spec: Record<string, unknown>): LoadedConfig {
    return applyAnnotations(this.#loaded, configAnnotations(spec));
  }

  select(_id: string, spec: Record<string, unknown>): Promise<RuntimeHandler> {
    const { config } = this.configFor(spec);
    const name = config.runtime.name;
    let handler = this.#handlers.get(name);
    if (!handler) {
      handler = runtimeFactory(name).then((f) =>
        f.create(this.#listener, { namespace: this.#namespace, config })
      );
      // A failed start is not cached: the next Create tries again.
      handler.catch(() => this.#handlers.delete(name));
      this.#handlers.set(name, handler);
    }
    return handler;
  }

  /** Every handler created so far. */
  async handlers(): Promise<RuntimeHandler[]> {
    const settled = await Promise.allSettled(this.#handlers.values());
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }
}
