/**
 * isCliInvocation(): argv that starts with a joey command is the CLI's,
 * whatever follows; containerd's shim invocations are not.
 * @module
 */
import { CLI_COMMANDS, isCliInvocation } from "../../src/cli/dispatch.ts";
import { HELP } from "../../src/cli/usage.ts";
import { assertEquals } from "../lib/assert.ts";

Deno.test("isCliInvocation() tells CLI commands from containerd's shim invocations", () => {
  for (
    const args of [
      ["run", "--rootfs", "/r", "--", "tool", "--id", "3", "-namespace", "x"],
      ["exec", "c1", "--", "sh", "-c", "echo -address"],
      ["version"],
      ["help", "run"],
      ["--help"],
      ["--version"],
    ]
  ) assertEquals(isCliInvocation(args), true, args.join(" "));
  for (
    const args of [
      ["-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-id", "x", "start"],
      ["-namespace", "default", "-id", "x", "-bundle", "/b", "delete"],
      ["-v"],
      [],
    ]
  ) assertEquals(isCliInvocation(args), false, args.join(" "));
});

Deno.test("every CLI command has help, and every help topic is a command", () => {
  assertEquals(
    [...CLI_COMMANDS].sort(),
    Object.keys(HELP).filter((k) => k !== "joey").sort(),
  );
});
