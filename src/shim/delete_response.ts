/**
 * containerd.task.v2.DeleteResponse for `containerd-shim-joey-v2 delete`,
 * encoded directly on the wire writer: the message is fixed (three scalar
 * fields), and parsing the shim's .proto files for it would cost the
 * process more than everything else it does on its common path.
 * tests/shim/delete_response_test.ts checks it against the schema codec.
 * @module
 */
import { Writer } from "../proto/wire.ts";

/** What `delete` reports about the container's init process. */
export interface DeleteResult {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

const VARINT = 0;
const BYTES = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

/** The binary DeleteResponse: pid = 1, exit_status = 2, exited_at = 3 (Timestamp). */
export function encodeDeleteResponse(result: DeleteResult): Uint8Array {
  const ms = result.exitedAt.getTime();
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1e6;
  const ts = new Writer(16);
  if (seconds !== 0) {
    ts.uint32(tag(1, VARINT));
    ts.varint64(seconds % 2 ** 32, Math.floor(seconds / 2 ** 32));
  }
  if (nanos !== 0) {
    ts.uint32(tag(2, VARINT));
    ts.int32(nanos);
  }
  const out = new Writer(32);
  if (result.pid !== 0) {
    out.uint32(tag(1, VARINT));
    out.uint32(result.pid);
  }
  if (result.exitStatus !== 0) {
    out.uint32(tag(2, VARINT));
    out.uint32(result.exitStatus);
  }
  out.uint32(tag(3, BYTES));
  out.bytes(ts.buf.subarray(0, ts.pos));
  return out.buf.slice(0, out.pos);
}
