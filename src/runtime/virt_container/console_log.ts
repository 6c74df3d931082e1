/**
 * `enable_debug`: the guest's serial console (QEMU writes it to
 * vm/console.log) copied line by line into the shim log, tagged with the
 * sandbox id, until the sandbox stops. The agent's lines about a container
 * (`joey-agent: container=ID[ exec=ID] …`, guest/agent/util.c) carry
 * those ids as log fields too, so one container's lines can be picked out.
 * @module
 */
import { log } from "../../shim/log.ts";

const AGENT_FIELDS = /^joey-agent: container=(\S+)(?: exec=(\S+))?/;

/** The log fields of one console line: the sandbox, and the container and exec the agent names. */
export function consoleFields(sandboxId: string, line: string): Record<string, string> {
  const m = AGENT_FIELDS.exec(line);
  const fields: Record<string, string> = { sandbox: sandboxId };
  if (m) fields.container = m[1]!;
  if (m?.[2]) fields.exec = m[2];
  fields.line = line;
  return fields;
}

/** Follows path from its start; resolves once signal aborts and the rest is copied. */
export async function followConsole(
  path: string,
  sandboxId: string,
  signal: AbortSignal,
): Promise<void> {
  let file: Deno.FsFile | null = null;
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16 * 1024);
  let pending = "";
  try {
    while (!file) {
      if (signal.aborted) return;
      file = await Deno.open(path).catch(() => null);
      if (!file) await new Promise((r) => setTimeout(r, 100));
    }
    while (true) {
      const n = await file.read(buf);
      if (n === null) {
        if (signal.aborted) break;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line) log.info("guest console", consoleFields(sandboxId, line));
      }
    }
    if (pending) log.info("guest console", consoleFields(sandboxId, pending));
  } catch {
    /* the file went away with the sandbox */
  } finally {
    file?.close();
  }
}
