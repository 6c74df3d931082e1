/**
 * Publishes task events to containerd: a ttrpc client to TTRPC_ADDRESS
 * calling containerd.services.events.ttrpc.v1.Events/Forward with an
 * Envelope. Events go out one at a time, in the order they were queued, so
 * containerd sees create → start → exit → delete as the service emitted them.
 * @module
 */
import { messageType, packAny, toTimestamp } from "../proto/registry.ts";
import { TtrpcClient } from "../ttrpc/client.ts";
import type { Logger } from "../shim/log.ts";

/** Topic and message type of each event the shim sends. */
export const Topics = {
  create: ["/tasks/create", "containerd.events.TaskCreate"],
  start: ["/tasks/start", "containerd.events.TaskStart"],
  exit: ["/tasks/exit", "containerd.events.TaskExit"],
  delete: ["/tasks/delete", "containerd.events.TaskDelete"],
  execAdded: ["/tasks/exec-added", "containerd.events.TaskExecAdded"],
  execStarted: ["/tasks/exec-started", "containerd.events.TaskExecStarted"],
  oom: ["/tasks/oom", "containerd.events.TaskOOM"],
  paused: ["/tasks/paused", "containerd.events.TaskPaused"],
  resumed: ["/tasks/resumed", "containerd.events.TaskResumed"],
} as const;

export type EventName = keyof typeof Topics;

/** Where events go; the service only needs `publish`. */
export interface EventSink {
  publish(event: EventName, message: Record<string, unknown>): void;
}

const ForwardRequest = messageType("containerd.services.events.ttrpc.v1.ForwardRequest");
const SERVICE = "containerd.services.events.ttrpc.v1.Events";
const MAX_QUEUE = 10_000;
const ATTEMPTS = 5;

/** Forwards events to containerd over ttrpc, in order, with bounded retries. */
export class EventPublisher implements EventSink {
  #address: string;
  #namespace: string;
  #log: Logger;
  #queue: { topic: string; envelope: Uint8Array }[] = [];
  #client: TtrpcClient | null = null;
  #draining: Promise<void> | null = null;

  constructor(ttrpcAddress: string, namespace: string, log: Logger) {
    this.#address = ttrpcAddress;
    this.#namespace = namespace;
    this.#log = log;
  }

  publish(event: EventName, message: Record<string, unknown>): void {
    const [topic, typeName] = Topics[event];
    if (this.#queue.length >= MAX_QUEUE) {
      this.#log.error("event queue full, dropping event", { topic });
      return;
    }
    const envelope = ForwardRequest.encode({
      envelope: {
        timestamp: toTimestamp(new Date()),
        namespace: this.#namespace,
        topic,
        event: packAny(typeName, message),
      },
    });
    this.#queue.push({ topic, envelope });
    this.#draining ??= this.#drain().finally(() => (this.#draining = null));
  }

  /** Resolves when every queued event was sent (or given up), or after timeoutMs. */
  async flush(timeoutMs = 3000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#draining ?? Promise.resolve(),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const { topic, envelope } = this.#queue[0]!;
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        try {
          this.#client ??= await TtrpcClient.dial(this.#address);
          await this.#client.call(SERVICE, "Forward", envelope, {
            timeoutMs: 5000,
            metadata: { "containerd-namespace-ttrpc": this.#namespace },
          });
          this.#log.debug("event published", { topic });
          break;
        } catch (err) {
          this.#client?.close();
          this.#client = null;
          if (attempt === ATTEMPTS) {
            this.#log.error("cannot publish event", { topic, error: err });
          } else {
            await new Promise((r) => setTimeout(r, 50 * attempt));
          }
        }
      }
      this.#queue.shift();
    }
  }
}
