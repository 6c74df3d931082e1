/**
 * OOM events of one sandbox: a loop that keeps one GetOOMEvent long poll
 * outstanding on the agent connection. Each answer names a container
 * whose guest cgroup counted an OOM kill; a known container's id goes to
 * `onOom` (the runtime listener, which publishes TaskOOM as the
 * linux-container runtime does). The guest is untrusted: an id that is not
 * a container of this sandbox is logged and dropped. The loop ends on
 * stop(), on DestroySandbox (Canceled), on an agent without the RPC
 * (Unimplemented), and after a few failed calls in a row (agent gone).
 * @module
 */
import { log } from "../../shim/log.ts";
import { Code, TtrpcError } from "../../ttrpc/mod.ts";

/** The part of the agent connection the watcher uses. */
export interface OomAgent {
  call(
    method: string,
    request: Record<string, unknown>,
    types?: { request?: string; response?: string; timeoutMs?: number },
  ): Promise<Record<string, unknown>>;
}

/** What an {@linkcode OomWatcher} needs. */
export interface OomWatcherOptions {
  sandboxId: string;
  agent: OomAgent;
  /** Whether id is a container of this sandbox now. */
  isKnown(id: string): boolean;
  /** A known container hit its memory limit. */
  onOom(id: string): void;
  /** Failed calls in a row before giving up (default 5). */
  maxFailures?: number;
  /** First retry delay in ms, doubled per failure up to 2 s (default 100). */
  retryDelayMs?: number;
}

/** Runs one sandbox's GetOOMEvent loop until stop(). */
export class OomWatcher {
  #o: OomWatcherOptions;
  #stopped = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void>;

  private constructor(o: OomWatcherOptions) {
    this.#o = o;
    this.#loop = this.#run();
  }

  /**
   * Starts the loop.
   * @example
   * ```ts
   * const w = OomWatcher.start({
   *   sandboxId: sandbox.id,
   *   agent: sandbox.agent,
   *   isKnown: (id) => sandbox.containers.has(id),
   *   onOom: (id) => listener.oom(id),
   * });
   * await w.stop();
   * ```
   */
  static start(o: OomWatcherOptions): OomWatcher {
    return new OomWatcher(o);
  }

  /** Resolves when the loop has ended (it has nothing of its own to wait for then). */
  get done(): Promise<void> {
    return this.#loop;
  }

  /**
   * Ends the loop. Its outstanding call ends when the agent answers it
   * (DestroySandbox) or the connection closes: call this first, then
   * those, then await {@linkcode done}.
   */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const { sandboxId: sandbox, agent } = this.#o;
    const maxFailures = this.#o.maxFailures ?? 5;
    let failures = 0;
    while (!this.#stopped) {
      let event: Record<string, unknown>;
      try {
        event = await agent.call("GetOOMEvent", {}, { response: "grpc.OOMEvent", timeoutMs: 0 });
      } catch (err) {
        if (this.#stopped) return;
        const code = err instanceof TtrpcError ? err.code : null;
        if (code === Code.Unimplemented) {
          log.warn("the agent has no GetOOMEvent: no OOM events for this sandbox", { sandbox });
          return;
        }
        if (code === Code.Canceled) return; // DestroySandbox
        if (++failures >= maxFailures) {
          log.warn("GetOOMEvent keeps failing; no more OOM events for this sandbox", {
            sandbox,
            error: err,
          });
          return;
        }
        await this.#sleep(Math.min((this.#o.retryDelayMs ?? 100) * 2 ** (failures - 1), 2000));
        continue;
      }
      failures = 0;
      this.#deliver(event.container_id);
    }
  }

  #deliver(id: unknown): void {
    if (typeof id === "string" && id.length > 0 && this.#o.isKnown(id)) {
      this.#o.onOom(id);
      return;
    }
    // Printable and short whatever the guest sent (the logger quotes it).
    log.warn("OOM event for a container this sandbox does not have; ignored", {
      sandbox: this.#o.sandboxId,
      container: String(id).slice(0, 160),
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }
}
