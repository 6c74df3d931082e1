/**
 * The one loader of the VMM library: `$JOEY_VMM_LIBRARY`, else the
 * configured path, else `$JOEY_ASSETS_DIR/libjoeyvmm.so`, else the build
 * tree's build/vmm/libjoeyvmm.so. Loaded once per process and kept open
 * (vCPU threads live inside it).
 * @module
 */
import { JoeyError } from "../../errors.ts";
import { sourceRoot } from "../../config/assets.ts";
import { symbols, type VmmSymbols } from "./ffi.ts";

let loaded: { path: string; lib: Deno.DynamicLibrary<typeof symbols> } | null = null;

/** Where the library would be loaded from. */
export function vmmLibraryPath(configured = ""): string {
  const env = Deno.env.get("JOEY_VMM_LIBRARY");
  if (env) return env;
  if (configured) return configured;
  const assets = Deno.env.get("JOEY_ASSETS_DIR");
  if (assets) return `${assets}/libjoeyvmm.so`;
  return `${sourceRoot() ?? "."}/build/vmm/libjoeyvmm.so`;
}

/**
 * The library's symbols, loading it on first use.
 * @param configured `[hypervisor.builtin] vmm_library`, "" for the default
 */
export function vmm(configured = ""): VmmSymbols {
  if (loaded) return loaded.lib.symbols;
  const path = vmmLibraryPath(configured);
  try {
    loaded = { path, lib: Deno.dlopen(path, symbols) };
  } catch (err) {
    throw new JoeyError(
      "FailedPrecondition",
      `cannot load the VMM library '${path}': ${err instanceof Error ? err.message : err}`,
    );
  }
  return loaded.lib.symbols;
}
