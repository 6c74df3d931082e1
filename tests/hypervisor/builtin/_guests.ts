/**
 * Shared helpers for the built-in VMM's Deno tests: test-guest paths, whether
 * this host can run them (with the reason when not), and the process's fd and
 * VMM-thread counts the leak tests compare.
 * @module
 */
import { fileURLToPath } from "node:url";
import { builtinUnavailable } from "../../../src/hypervisor/builtin/mod.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** build/vmm/guests/NAME.elf (built by `make vmm`). */
export function guest(name: string): string {
  return `${root}build/vmm/guests/${name}.elf`;
}

function why(): string | null {
  try {
    Deno.statSync(guest("hello"));
  } catch {
    return "test guests are not built (run make vmm)";
  }
  return builtinUnavailable();
}

/** Null when built-in VMs can run here, else why not (printed once). */
export const skipReason: string | null = why();
if (skipReason) console.log(`built-in VMM tests skipped: ${skipReason}`);

/** Whether the CPU has VMX/SVM (a real Linux boots fully only then). */
export function hasVmxSvm(): boolean {
  try {
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return false;
  }
}

/** Open descriptors of this process. */
export function fds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Threads of the VMM library in this process (it names them joey-vcpuN, joey-io, joey-pool). */
export function vmmThreads(): number {
  let n = 0;
  for (const task of Deno.readDirSync("/proc/self/task")) {
    try {
      if (Deno.readTextFileSync(`/proc/self/task/${task.name}/comm`).startsWith("joey-")) n++;
    } catch { /* the thread ended meanwhile */ }
  }
  return n;
}
