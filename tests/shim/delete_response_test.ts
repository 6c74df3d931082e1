/**
 * The hand-encoded DeleteResponse of `containerd-shim-joey-v2 delete`
 * decodes, with the codec built from proto/, to what was meant.
 */
import { encodeDeleteResponse } from "../../src/shim/delete_response.ts";
import { messageType } from "../../src/proto/registry.ts";
import { assertEquals } from "../lib/assert.ts";

const DeleteResponse = messageType("containerd.task.v2.DeleteResponse");

Deno.test("encodeDeleteResponse() matches the schema codec for delete's answer and edge values", () => {
  const cases = [
    { pid: 0, exitStatus: 137, exitedAt: new Date(1_764_400_000_123) },
    { pid: 4242, exitStatus: 0, exitedAt: new Date(1_000) },
    { pid: 2 ** 31, exitStatus: 255, exitedAt: new Date(0) },
    // Seconds past 2^32 (year 2106+) take the 64-bit varint path.
    { pid: 1, exitStatus: 3, exitedAt: new Date(2 ** 33 * 1000 + 999) },
  ];
  for (const c of cases) {
    const bytes = encodeDeleteResponse(c);
    const seconds = Math.floor(c.exitedAt.getTime() / 1000);
    const nanos = (c.exitedAt.getTime() % 1000) * 1e6;
    assertEquals(DeleteResponse.decode(bytes), {
      pid: c.pid,
      exit_status: c.exitStatus,
      exited_at: { seconds, nanos },
    });
    // Same bytes as the generic encoder: field order and default omission agree.
    assertEquals(
      [...bytes],
      [
        ...DeleteResponse.encode({
          pid: c.pid,
          exit_status: c.exitStatus,
          exited_at: { seconds, nanos },
        }),
      ],
    );
  }
});
