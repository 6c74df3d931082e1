/**
 * ttrpc client: many concurrent calls on one connection, each on its own
 * odd stream id, matched to responses by id. Timeouts travel as
 * timeout_nano and are also enforced locally.
 * @module
 */
import { type MessageType as Codec, messageType } from "../proto/registry.ts";
import { FrameReader, FrameWriter, MAX_MESSAGE_LENGTH, MessageType } from "./frame.ts";
import { Code, type Status, TtrpcError } from "./status.ts";

/** Per-call options. */
export interface CallOptions {
  timeoutMs?: number;
  metadata?: Record<string, string | string[]>;
  signal?: AbortSignal;
}

const RequestCodec = messageType("ttrpc.Request");
const ResponseCodec = messageType<{ status: Status | null; payload: Uint8Array }>(
  "ttrpc.Response",
);

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(err: unknown): void;
}

/** A ttrpc client over one connection (unix socket, hybrid vsock…). */
export class TtrpcClient {
  #conn: Deno.Conn;
  #writer: FrameWriter;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #closed: TtrpcError | null = null;
  readonly done: Promise<void>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#writer = new FrameWriter(conn);
    this.done = this.#readLoop();
  }

  /** Connects to a unix socket path (with or without a unix:// prefix). */
  static async dial(address: string): Promise<TtrpcClient> {
    const path = address.replace(/^unix:\/\//, "");
    return new TtrpcClient(await Deno.connect({ transport: "unix", path }));
  }

  /** Calls service/method with raw payload bytes; resolves to the response payload. */
  async call(
    service: string,
    method: string,
    payload: Uint8Array,
    options: CallOptions = {},
  ): Promise<Uint8Array> {
    if (this.#closed) throw this.#closed;
    const metadata = Object.entries(options.metadata ?? {}).flatMap(([key, v]) =>
      (Array.isArray(v) ? v : [v]).map((value) => ({ key, value }))
    );
    const body = RequestCodec.encode({
      service,
      method,
      payload,
      timeout_nano: options.timeoutMs ? Math.round(options.timeoutMs * 1e6) : 0,
      metadata,
    });
    if (body.length > MAX_MESSAGE_LENGTH) {
      throw new TtrpcError(
        Code.ResourceExhausted,
        `ttrpc: request of ${body.length} bytes to ${service}/${method} exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`,
      );
    }
    const id = this.#nextId;
    this.#nextId += 2;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () =>
      this.#settle(id, new TtrpcError(Code.Canceled, `${service}/${method}: canceled`));
    const result = new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    // A close during the write below rejects `result` before it is awaited;
    // the rejection still reaches the caller through the await, not as an
    // unhandled one.
    result.catch(() => {});
    if (options.timeoutMs) {
      timer = setTimeout(
        () =>
          this.#settle(
            id,
            new TtrpcError(
              Code.DeadlineExceeded,
              `${service}/${method}: no answer within ${options.timeoutMs} ms`,
            ),
          ),
        options.timeoutMs,
      );
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#writer.write(id, MessageType.Request, 0, body);
      return await result;
    } catch (err) {
      this.#pending.delete(id);
      throw err;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Calls with typed request/response codecs. */
  async request<Req, Res>(
    service: string,
    method: string,
    codecs: { request: Codec<Req>; response: Codec<Res> },
    message: Partial<Req>,
    options?: CallOptions,
  ): Promise<Res> {
    const payload = await this.call(service, method, codecs.request.encode(message), options);
    return codecs.response.decode(payload);
  }

  /** Closes the connection; pending calls fail with Unavailable. */
  close(): void {
    this.#fail(new TtrpcError(Code.Unavailable, "ttrpc: client closed"));
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  #settle(id: number, outcome: Uint8Array | Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (outcome instanceof Uint8Array) p.resolve(outcome);
    else p.reject(outcome);
  }

  #fail(err: TtrpcError): void {
    this.#closed ??= err;
    for (const id of [...this.#pending.keys()]) this.#settle(id, err);
  }

  async #readLoop(): Promise<void> {
    const reader = new FrameReader(this.#conn);
    try {
      while (true) {
        const frame = await reader.next();
        if (frame === null) break;
        if (frame.oversized) {
          this.#settle(
            frame.streamId,
            new TtrpcError(
              Code.ResourceExhausted,
              `ttrpc: response of ${frame.length} bytes exceeds the limit`,
            ),
          );
          continue;
        }
        if (frame.type !== MessageType.Response) continue;
        let response;
        try {
          response = ResponseCodec.decode(frame.data);
        } catch (err) {
          this.#settle(
            frame.streamId,
            new TtrpcError(Code.Internal, `ttrpc: malformed response: ${err}`),
          );
          continue;
        }
        if (response.status && response.status.code !== Code.OK) {
          this.#settle(frame.streamId, TtrpcError.fromStatus(response.status));
        } else {
          this.#settle(frame.streamId, response.payload);
        }
      }
    } catch { /* broken connection: fall through */ }
    this.#fail(new TtrpcError(Code.Unavailable, "ttrpc: connection closed"));
  }
}
