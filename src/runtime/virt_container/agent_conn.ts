/**
 * The virt-container runtime's connection to the guest agent: the hybrid
 * vsock dial of src/agent (`CONNECT <port>\n` → `OK …\n` on the VM's unix
 * socket), retried until Health.Check answers, then ttrpc with the codecs of
 * proto/agent.proto and proto/health.proto. Calls are typed by the
 * request/response message names; each method of the runtime names the
 * RPC it makes.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import { dialHybridVsock } from "../../agent/hybrid_vsock.ts";
import { TtrpcClient } from "../../ttrpc/client.ts";
import { messageType } from "../../proto/registry.ts";

const AGENT_SERVICE = "grpc.AgentService";
const HEALTH_SERVICE = "grpc.Health";

/** A typed agent connection. */
export class AgentConnection {
  #client: TtrpcClient;
  #timeoutMs: number;

  private constructor(client: TtrpcClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Dials until Health.Check answers SERVING or deadline (ms since epoch)
   * passes; each attempt is bounded by dialTimeoutMs.
   */
  static async connect(options: {
    socket: string;
    port: number;
    dialTimeoutMs: number;
    requestTimeoutMs: number;
    deadline: number;
    /** Rejects when the VM is gone, ending the wait early. */
    abort?: Promise<never>;
  }): Promise<AgentConnection> {
    let last: unknown = null;
    let aborted: unknown = null;
    options.abort?.catch((e) => aborted = e);
    while (Date.now() < options.deadline) {
      if (aborted) throw aborted;
      try {
        const conn = await dialHybridVsock(options.socket, options.port, {
          timeoutMs: Math.max(1, Math.min(options.dialTimeoutMs, options.deadline - Date.now())),
          retryDelayMs: 20,
        });
        const agent = new AgentConnection(new TtrpcClient(conn), options.requestTimeoutMs);
        try {
          const health = await agent.health(options.dialTimeoutMs);
          if (health === "SERVING") return agent;
          last = new Error(`Health.Check: ${health}`);
        } catch (err) {
          last = err;
        }
        agent.close();
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new JoeyError(
      "DeadlineExceeded",
      `agent on "${options.socket}" port ${options.port} did not answer in time: ${
        last instanceof Error ? last.message : String(last)
      }`,
    );
  }

  /** Health.Check: the agent's serving status. */
  async health(timeoutMs = this.#timeoutMs): Promise<string> {
    const res = await this.#call(
      HEALTH_SERVICE,
      "Check",
      "grpc.CheckRequest",
      "grpc.HealthCheckResponse",
      {},
      timeoutMs,
    );
    return String(res.status);
  }

  /**
   * One AgentService RPC: request encoded as `grpc.<Method>Request` unless
   * requestType says otherwise; the response decoded when responseType is
   * given (methods answering Empty return {}). timeoutMs 0 = none (waits,
   * reads).
   */
  call(
    method: string,
    request: Record<string, unknown>,
    types: { request?: string; response?: string; timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    return this.#call(
      AGENT_SERVICE,
      method,
      types.request ?? `grpc.${method}Request`,
      types.response ?? null,
      request,
      types.timeoutMs ?? this.#timeoutMs,
    );
  }

  async #call(
    service: string,
    method: string,
    requestType: string,
    responseType: string | null,
    request: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const payload = messageType(requestType).encode(request);
    const bytes = await this.#client.call(service, method, payload, {
      ...(timeoutMs > 0 ? { timeoutMs } : {}),
    });
    return responseType ? messageType(responseType).decode(bytes) : {};
  }

  /** Resolves when the connection ends. */
  get done(): Promise<void> {
    return this.#client.done;
  }

  /** Closes the connection (pending calls fail). */
  close(): void {
    this.#client.close();
  }
}
