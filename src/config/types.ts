/**
 * The shape of joey's effective configuration (TOML file + defaults +
 * allowed annotation overrides). Key names follow the TOML file.
 * @module
 */

/** `[runtime]`: which runtime serves a pod, and shim behaviour. */
export interface RuntimeSection {
  /** "linux-container" (host namespaces via runc) or "virt-container" (VM per pod). */
  name: "linux-container" | "virt-container" | "wasm";
  /** "pod": one shim per pod; "node": one shim daemon per namespace. */
  shim_mode: "pod" | "node";
  /** Annotation keys (after `io.joey.config.`) a pod may override, e.g. "runtime.name". */
  enable_annotations: string[];
  /** Raise the log level to debug. */
  debug: boolean;
  /** Where per-sandbox state lives. */
  state_dir: string;
}

/** `[linux_container]`: the OCI runtime binary behind linux-container. */
export interface LinuxContainerSection {
  /** Path or name of the OCI runtime binary (runc or crun). */
  oci_runtime: string;
  /** The OCI runtime's --root (its state directory); the namespace is appended. */
  root: string;
}

/** The whole effective configuration. Sections other runtimes add extend it. */
export interface JoeyConfig {
  runtime: RuntimeSection;
  linux_container: LinuxContainerSection;
  [section: string]: unknown;
}
