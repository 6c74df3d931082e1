/**
 * ttrpc server: accepts connections, reads Request frames, dispatches each
 * to its registered method concurrently, and answers with a Response frame
 * on the same stream id. Behaves like containerd/ttrpc's server on bad
 * input: oversized frames get ResourceExhausted, even or non-increasing
 * stream ids and undecodable requests get InvalidArgument, unknown services
 * and methods get Unimplemented, and a truncated frame closes only that
 * connection.
 * @module
 */
import { messageType } from "../proto/registry.ts";
import { FrameReader, FrameWriter, MAX_MESSAGE_LENGTH, MessageType } from "./frame.ts";
import { Code, type Status, statusFromError, TtrpcError } from "./status.ts";

/** What a method sees besides its payload. */
export interface RequestContext {
  service: string;
  method: string;
  /** Metadata keys to values, e.g. "containerd-namespace-ttrpc". */
  metadata: Map<string, string[]>;
  /** Aborted when the request's deadline (timeout_nano) passes or the server closes. */
  signal: AbortSignal;
}

/** A method: decoded payload bytes in, response bytes out; throws to fail. */
export type MethodHandler = (payload: Uint8Array, ctx: RequestContext) => Promise<Uint8Array>;

interface RequestMessage {
  service: string;
  method: string;
  payload: Uint8Array;
  timeout_nano: number;
  metadata: { key: string; value: string }[];
}

const RequestCodec = messageType<RequestMessage>("ttrpc.Request");
const ResponseCodec = messageType<{ status: Status | null; payload: Uint8Array }>(
  "ttrpc.Response",
);

/** Optional hooks, e.g. for logging. */
export interface ServerOptions {
  onError?: (err: unknown) => void;
  /** Called for every accepted connection (e.g. to note activity). */
  onConnection?: () => void;
}

/** A ttrpc server for any number of services. */
export class TtrpcServer {
  #services = new Map<string, Map<string, MethodHandler>>();
  #listeners = new Set<Deno.Listener>();
  #conns = new Set<Deno.Conn>();
  #closed = new AbortController();
  #active = 0;
  #idleWaiters: (() => void)[] = [];
  #options: ServerOptions;

  constructor(options: ServerOptions = {}) {
    this.#options = options;
  }

  /** Registers the methods of one service (full name, e.g. "containerd.task.v2.Task"). */
  register(service: string, methods: Record<string, MethodHandler>): void {
    this.#services.set(service, new Map(Object.entries(methods)));
  }

  /** Serves a listener until close(); returns when the listener stops. */
  async serve(listener: Deno.Listener): Promise<void> {
    this.#listeners.add(listener);
    try {
      for await (const conn of listener) {
        if (this.#closed.signal.aborted) {
          conn.close();
          break;
        }
        this.#options.onConnection?.();
        this.#handleConn(conn);
      }
    } catch (err) {
      if (!this.#closed.signal.aborted) this.#options.onError?.(err);
    } finally {
      this.#listeners.delete(listener);
    }
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Stops accepting, aborts in-flight requests and closes every connection. */
  close(): void {
    this.#closed.abort(new TtrpcError(Code.Unavailable, "ttrpc: server closed"));
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch { /* already closed */ }
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }

  /** Resolves when no request is being handled. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #handleConn(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    const reader = new FrameReader(conn);
    const writer = new FrameWriter(conn);
    let lastStreamId = 0;
    const send = (streamId: number, status: Status | null, payload: Uint8Array) => {
      let body = ResponseCodec.encode({ status, payload });
      if (body.length > MAX_MESSAGE_LENGTH) {
        body = ResponseCodec.encode({
          status: {
            code: Code.ResourceExhausted,
            message:
              `ttrpc: response of ${body.length} bytes exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`,
          },
          payload: new Uint8Array(0),
        });
      }
      return writer.write(streamId, MessageType.Response, 0, body).catch(() => {});
    };
    try {
      while (true) {
        const frame = await reader.next();
        if (frame === null) break;
        if (frame.oversized) {
          await send(frame.streamId, {
            code: Code.ResourceExhausted,
            message:
              `ttrpc: message length ${frame.length} exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`,
          }, new Uint8Array(0));
          continue;
        }
        if (frame.type !== MessageType.Request) continue; // reserved for streams; ignored as ttrpc 1.1 does
        if (frame.streamId % 2 !== 1) {
          await send(frame.streamId, {
            code: Code.InvalidArgument,
            message: `ttrpc: stream id ${frame.streamId} must be odd for client-initiated streams`,
          }, new Uint8Array(0));
          continue;
        }
        if (frame.streamId <= lastStreamId) {
          await send(frame.streamId, {
            code: Code.InvalidArgument,
            message:
              `ttrpc: stream id ${frame.streamId} is not above the last one (${lastStreamId})`,
          }, new Uint8Array(0));
          continue;
        }
        lastStreamId = frame.streamId;
        let request: RequestMessage;
        try {
          request = RequestCodec.decode(frame.data);
        } catch (err) {
          await send(frame.streamId, {
            code: Code.InvalidArgument,
            message: `ttrpc: cannot decode request: ${err instanceof Error ? err.message : err}`,
          }, new Uint8Array(0));
          continue;
        }
        // Each request runs on its own; responses go out as they finish.
        this.#dispatch(request).then(({ status, payload }) =>
          send(frame.streamId, status, payload)
        );
      }
    } catch (err) {
      // Truncated frame or a broken socket: drop this connection only.
      if (!this.#closed.signal.aborted) this.#options.onError?.(err);
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  async #dispatch(req: RequestMessage): Promise<{ status: Status | null; payload: Uint8Array }> {
    const empty = new Uint8Array(0);
    const service = this.#services.get(req.service);
    if (!service) {
      return {
        status: { code: Code.Unimplemented, message: `service ${req.service}` },
        payload: empty,
      };
    }
    const handler = service.get(req.method);
    if (!handler) {
      return {
        status: { code: Code.Unimplemented, message: `method ${req.method}` },
        payload: empty,
      };
    }
    const metadata = new Map<string, string[]>();
    for (const kv of req.metadata) {
      metadata.set(kv.key, [...(metadata.get(kv.key) ?? []), kv.value]);
    }
    const controller = new AbortController();
    const onClose = () => controller.abort(this.#closed.signal.reason);
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      if (req.timeout_nano > 0) {
        const ms = Math.max(1, Math.ceil(req.timeout_nano / 1e6));
        timer = setTimeout(() => {
          const err = new TtrpcError(
            Code.DeadlineExceeded,
            `${req.service}/${req.method}: deadline exceeded after ${ms} ms`,
          );
          controller.abort(err);
          reject(err);
        }, ms);
      }
    });
    this.#active++;
    try {
      const ctx = { service: req.service, method: req.method, metadata, signal: controller.signal };
      const payload = await Promise.race([handler(req.payload, ctx), deadline]);
      return { status: null, payload };
    } catch (err) {
      return { status: statusFromError(err), payload: empty };
    } finally {
      clearTimeout(timer);
      this.#closed.signal.removeEventListener("abort", onClose);
      if (--this.#active === 0) { for (const w of this.#idleWaiters.splice(0)) w(); }
    }
  }
}
