/**
 * exec_process.ts: the process `joey exec` builds from the container's own
 * (as `ctr tasks exec` does) and the operator's --user/--env/--cwd.
 * @module
 */
import { assertEquals, assertThrows } from "../lib/assert.ts";
import {
  execProcess,
  FALLBACK_PROCESS,
  mergeEnv,
  parseEnv,
  parseUser,
} from "../../src/cli/exec_process.ts";
import { UsageError } from "../../src/cli/usage.ts";

const container = {
  terminal: false,
  user: { uid: 1000, gid: 1001, additionalGids: [1002] },
  args: ["sleep", "60"],
  env: ["PATH=/bin", "A=1", "TERM=vt100"],
  cwd: "/srv",
  noNewPrivileges: true,
};

Deno.test("execProcess() keeps the container's user, env and cwd, with the command and terminal", () => {
  const p = execProcess(container, { argv: ["id"], tty: true, size: null, overrides: { env: [] } });
  assertEquals(p.user, container.user);
  assertEquals(p.env, container.env, "the container's TERM is kept");
  assertEquals([p.cwd, p.args, p.terminal, p.noNewPrivileges], ["/srv", ["id"], true, true]);
});

Deno.test("execProcess() puts --user/--env/--cwd over the container's", () => {
  const p = execProcess(container, {
    argv: ["id"],
    tty: false,
    size: null,
    overrides: { user: { uid: 0 }, env: ["A=2", "B=3"], cwd: "/" },
  });
  assertEquals(p.user, { uid: 0, gid: 1001, additionalGids: [1002] });
  assertEquals(p.env, ["PATH=/bin", "A=2", "TERM=vt100", "B=3"]);
  assertEquals(p.cwd, "/");
  assertEquals(container.user.uid, 1000, "the container's process is not changed");
});

Deno.test("execProcess() on the fallback: root, a default PATH, /, and TERM with a terminal", () => {
  const p = execProcess(FALLBACK_PROCESS, {
    argv: ["sh"],
    tty: true,
    size: { columns: 80, rows: 24 },
    overrides: { env: [] },
  });
  assertEquals(p.user, { uid: 0, gid: 0, additionalGids: [] });
  assertEquals((p.env as string[]).length, 2);
  assertEquals((p.env as string[])[1]!.startsWith("TERM="), true);
  assertEquals([p.cwd, p.consoleSize], ["/", { height: 24, width: 80 }]);
});

Deno.test("parseUser()/parseEnv() take numbers and KEY=VALUE, else a UsageError", () => {
  assertEquals(parseUser("5"), { uid: 5 });
  assertEquals(parseUser("5:6"), { uid: 5, gid: 6 });
  assertEquals(
    assertThrows(() => parseUser("root"), UsageError).message,
    '--user takes UID[:GID] as numbers, not "root"',
  );
  assertThrows(() => parseUser("5:"), UsageError);
  assertEquals(parseEnv(["A=", "B=c=d"]), ["A=", "B=c=d"]);
  assertEquals(
    assertThrows(() => parseEnv(["A=1", "B"]), UsageError).message,
    '--env takes KEY=VALUE, not "B"',
  );
  assertEquals(mergeEnv(["A=1", "AB=2"], ["A=3"]), ["A=3", "AB=2"]);
});
