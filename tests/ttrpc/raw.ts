/**
 * A raw ttrpc peer for tests: writes arbitrary frames (valid or not) and
 * reads responses, so bad-input behaviour can be checked against any server.
 * @module
 */
import { messageType } from "../../src/proto/registry.ts";
import { encodeFrame, FrameReader } from "../../src/ttrpc/frame.ts";
import type { Status } from "../../src/ttrpc/status.ts";

const RequestCodec = messageType("ttrpc.Request");
const ResponseCodec = messageType<{ status: Status | null; payload: Uint8Array }>("ttrpc.Response");

/** A raw connection to a ttrpc server. */
export class RawPeer {
  readonly conn: Deno.UnixConn;
  readonly reader: FrameReader;
  private constructor(conn: Deno.UnixConn) {
    this.conn = conn;
    this.reader = new FrameReader(conn);
  }

  static async connect(path: string): Promise<RawPeer> {
    return new RawPeer(
      await Deno.connect({ transport: "unix", path: path.replace(/^unix:\/\//, "") }),
    );
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Sends a Request frame for service/method with payload on streamId. */
  sendRequest(
    streamId: number,
    service: string,
    method: string,
    payload: Uint8Array,
    metadata: { key: string; value: string }[] = [],
  ) {
    const body = RequestCodec.encode({ service, method, payload, metadata });
    return this.writeAll(encodeFrame(streamId, 1, 0, body));
  }

  /** Reads the next Response: its stream id, status and payload (null at EOF). */
  async readResponse(): Promise<
    { streamId: number; status: Status | null; payload: Uint8Array } | null
  > {
    const frame = await this.reader.next();
    if (!frame) return null;
    const r = ResponseCodec.decode(frame.data);
    return {
      streamId: frame.streamId,
      status: r.status && r.status.code ? r.status : null,
      payload: r.payload,
    };
  }

  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}
