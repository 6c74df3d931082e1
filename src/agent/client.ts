/**
 * Typed client of the guest agent (grpc.AgentService and grpc.Health over
 * ttrpc). Calls that return at once get a default deadline; WaitProcess and
 * the Read calls block in the agent until there is something to say, so they
 * have none unless the caller gives one.
 * @module
 */
import { type MessageType, messageType } from "../proto/registry.ts";
import { type CallOptions, TtrpcClient } from "../ttrpc/mod.ts";
import { dialHybridVsock, type DialOptions } from "./hybrid_vsock.ts";
import type {
  CreateContainerRequest,
  CreateSandboxRequest,
  GuestDetailsResponse,
  LinuxResources,
  NetInterface,
  NetRoute,
  OciProcess,
  ServingStatus,
  StatsContainerResponse,
} from "./types.ts";

/** The guest port the agent listens on. */
export const AGENT_VSOCK_PORT = 1024;

const AGENT = "grpc.AgentService";
const HEALTH = "grpc.Health";

/** Options of an {@linkcode AgentClient}. */
export interface AgentClientOptions {
  /** Deadline of calls that do not wait for the guest's processes (default 30 s). */
  timeoutMs?: number;
}

type Msg = Record<string, unknown>;

const codecs = new Map<string, MessageType<Msg>>();
function codec(name: string): MessageType<Msg> {
  let c = codecs.get(name);
  if (!c) codecs.set(name, c = messageType<Msg>(`grpc.${name}`));
  return c;
}
const EMPTY = "google.protobuf.Empty";

/** A connection to one guest agent. */
export class AgentClient {
  #ttrpc: TtrpcClient;
  #timeoutMs: number;

  /** Wraps an established connection (unix socket, or hybrid vsock after the handshake). */
  constructor(conn: Deno.Conn, options: AgentClientOptions = {}) {
    this.#ttrpc = new TtrpcClient(conn);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Dials the agent through the VMM's hybrid vsock socket, retrying until
   * the guest listens or the dial timeout passes.
   * @example
   * ```ts
   * const agent = await AgentClient.dialVsock("/run/joey/sbx/vsock.sock", {
   *   dial: { timeoutMs: 10_000 },
   * });
   * console.log(await agent.check());
   * ```
   */
  static async dialVsock(
    udsPath: string,
    options: AgentClientOptions & {
      /** Guest port (default 1024). */
      port?: number;
      /** How to keep dialing until the guest listens. */
      dial?: DialOptions;
    } = {},
  ): Promise<AgentClient> {
    const conn = await dialHybridVsock(udsPath, options.port ?? AGENT_VSOCK_PORT, options.dial);
    return new AgentClient(conn, options);
  }

  /** Dials an agent in host test mode (`joey-agent --unix PATH`). */
  static async dialUnix(path: string, options: AgentClientOptions = {}): Promise<AgentClient> {
    return new AgentClient(await Deno.connect({ transport: "unix", path }), options);
  }

  /** Closes the connection; calls in flight fail with Unavailable. */
  close(): void {
    this.#ttrpc.close();
  }

  async #call(
    service: string,
    method: string,
    request: string,
    response: string,
    message: Msg,
    options: CallOptions,
  ): Promise<Msg> {
    const req = request === EMPTY ? messageType(EMPTY) : codec(request);
    const res = response === EMPTY ? messageType(EMPTY) : codec(response);
    const payload = await this.#ttrpc.call(service, method, req.encode(message), options);
    return res.decode(payload) as Msg;
  }

  #quick(method: string, request: string, message: Msg, response = EMPTY, opts?: CallOptions) {
    return this.#call(AGENT, method, request, response, message, {
      timeoutMs: this.#timeoutMs,
      ...opts,
    });
  }

  /** grpc.Health/Check: the agent's serving status. */
  async check(options?: CallOptions): Promise<ServingStatus> {
    const r = await this.#call(HEALTH, "Check", "CheckRequest", "HealthCheckResponse", {}, {
      timeoutMs: this.#timeoutMs,
      ...options,
    });
    return r.status as ServingStatus;
  }

  /** grpc.Health/Version: the agent's version. */
  async version(): Promise<string> {
    const r = await this.#call(HEALTH, "Version", "CheckRequest", "VersionCheckResponse", {}, {
      timeoutMs: this.#timeoutMs,
    });
    return r.agent_version as string;
  }

  /** Mounts the sandbox's storages (the shared filesystem) and sets the hostname. */
  async createSandbox(req: CreateSandboxRequest): Promise<void> {
    await this.#quick("CreateSandbox", "CreateSandboxRequest", { ...req });
  }

  /** Removes every container and unmounts the sandbox storages. */
  async destroySandbox(): Promise<void> {
    await this.#quick("DestroySandbox", "DestroySandboxRequest", {});
  }

  /** Creates a container whose init process waits for {@linkcode startContainer}. */
  async createContainer(req: CreateContainerRequest): Promise<void> {
    await this.#quick("CreateContainer", "CreateContainerRequest", { ...req });
  }

  /** Lets the container's init process exec. */
  async startContainer(containerId: string): Promise<void> {
    await this.#quick("StartContainer", "StartContainerRequest", { container_id: containerId });
  }

  /** Kills the container's processes, waits for them (timeoutS, 0 = agent default) and removes it. */
  async removeContainer(containerId: string, timeoutS = 0): Promise<void> {
    await this.#quick("RemoveContainer", "RemoveContainerRequest", {
      container_id: containerId,
      timeout: timeoutS,
    });
  }

  /** Starts an extra process in the container's namespaces and cgroup. */
  async execProcess(containerId: string, execId: string, process: OciProcess): Promise<void> {
    await this.#quick("ExecProcess", "ExecProcessRequest", {
      container_id: containerId,
      exec_id: execId,
      process,
    });
  }

  /** Sends a signal; execId "" is the container's init process. */
  async signalProcess(containerId: string, execId: string, signal: number): Promise<void> {
    await this.#quick("SignalProcess", "SignalProcessRequest", {
      container_id: containerId,
      exec_id: execId,
      signal,
    });
  }

  /** Waits for the process to exit: its exit code, or 128 + signal. */
  async waitProcess(containerId: string, execId: string, options?: CallOptions): Promise<number> {
    const r = await this.#call(
      AGENT,
      "WaitProcess",
      "WaitProcessRequest",
      "WaitProcessResponse",
      { container_id: containerId, exec_id: execId },
      options ?? {},
    );
    return r.status as number;
  }

  /** Next stdout bytes (up to len); an empty array means EOF. Waits for data. */
  readStdout(containerId: string, execId: string, len = 65536, options?: CallOptions) {
    return this.#read("ReadStdout", containerId, execId, len, options);
  }

  /** Next stderr bytes (up to len); an empty array means EOF. Waits for data. */
  readStderr(containerId: string, execId: string, len = 65536, options?: CallOptions) {
    return this.#read("ReadStderr", containerId, execId, len, options);
  }

  async #read(
    method: string,
    containerId: string,
    execId: string,
    len: number,
    options?: CallOptions,
  ): Promise<Uint8Array> {
    const r = await this.#call(AGENT, method, "ReadStreamRequest", "ReadStreamResponse", {
      container_id: containerId,
      exec_id: execId,
      len,
    }, options ?? {});
    return r.data as Uint8Array;
  }

  /** Reads a stream to EOF. */
  async readAll(
    containerId: string,
    execId: string,
    stream: "stdout" | "stderr",
  ): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    while (true) {
      const chunk = stream === "stdout"
        ? await this.readStdout(containerId, execId)
        : await this.readStderr(containerId, execId);
      if (chunk.length === 0) break;
      parts.push(chunk);
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) out.set(p, (off += p.length) - p.length);
    return out;
  }

  /** Queues stdin bytes; returns how many the agent took (fewer when its buffer is full). */
  async writeStdin(containerId: string, execId: string, data: Uint8Array): Promise<number> {
    const r = await this.#quick("WriteStdin", "WriteStreamRequest", {
      container_id: containerId,
      exec_id: execId,
      data,
    }, "WriteStreamResponse");
    return r.len as number;
  }

  /** Writes all of data, waiting while the agent's stdin buffer is full. */
  async writeAllStdin(containerId: string, execId: string, data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = await this.writeStdin(containerId, execId, data.subarray(off));
      off += n;
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Closes stdin once what was written has been delivered. */
  async closeStdin(containerId: string, execId: string): Promise<void> {
    await this.#quick("CloseStdin", "CloseStdinRequest", {
      container_id: containerId,
      exec_id: execId,
    });
  }

  /** Resizes the process's terminal. */
  async ttyWinResize(containerId: string, execId: string, rows: number, columns: number) {
    await this.#quick("TtyWinResize", "TtyWinResizeRequest", {
      container_id: containerId,
      exec_id: execId,
      row: rows,
      column: columns,
    });
  }

  /** Freezes the container's cgroup. */
  async pauseContainer(containerId: string): Promise<void> {
    await this.#quick("PauseContainer", "PauseContainerRequest", { container_id: containerId });
  }

  /** Thaws the container's cgroup. */
  async resumeContainer(containerId: string): Promise<void> {
    await this.#quick("ResumeContainer", "ResumeContainerRequest", { container_id: containerId });
  }

  /** Applies new cgroup limits. */
  async updateContainer(containerId: string, resources: LinuxResources): Promise<void> {
    await this.#quick("UpdateContainer", "UpdateContainerRequest", {
      container_id: containerId,
      resources,
    });
  }

  /** cgroup statistics of the container. */
  async statsContainer(containerId: string): Promise<StatsContainerResponse> {
    return await this.#quick("StatsContainer", "StatsContainerRequest", {
      container_id: containerId,
    }, "StatsContainerResponse") as unknown as StatsContainerResponse;
  }

  /**
   * Waits for the next container whose cgroup counted an OOM kill and
   * returns its id (a long poll: no deadline unless options give one;
   * DestroySandbox answers it with Canceled).
   */
  async getOomEvent(options?: CallOptions): Promise<string> {
    const r = await this.#call(AGENT, "GetOOMEvent", "GetOOMEventRequest", "OOMEvent", {}, {
      ...options,
    });
    return r.container_id as string;
  }

  /** Agent version, capabilities and memory block size. */
  async getGuestDetails(): Promise<GuestDetailsResponse> {
    return await this.#quick("GetGuestDetails", "GuestDetailsRequest", {
      mem_block_size: true,
      mem_hotplug_probe: true,
    }, "GuestDetailsResponse") as unknown as GuestDetailsResponse;
  }

  /** Configures the guest NIC whose MAC is iface.hwAddr; returns it as it ends up. */
  async updateInterface(iface: NetInterface): Promise<NetInterface> {
    const r = await this.#quick("UpdateInterface", "UpdateInterfaceRequest", {
      interface: { ...iface },
    }, "Interface");
    return r as unknown as NetInterface;
  }

  /** Replaces the guest's routes (main table; the kernel's own stay); returns the table after. */
  async updateRoutes(routes: NetRoute[]): Promise<NetRoute[]> {
    const r = await this.#quick("UpdateRoutes", "UpdateRoutesRequest", {
      routes: { Routes: routes },
    }, "Routes");
    return r.Routes as NetRoute[];
  }

  /** The guest's network interfaces with their addresses. */
  async listInterfaces(): Promise<NetInterface[]> {
    const r = await this.#quick("ListInterfaces", "ListInterfacesRequest", {}, "Interfaces");
    return r.Interfaces as NetInterface[];
  }

  /** The guest's main routing table. */
  async listRoutes(): Promise<NetRoute[]> {
    const r = await this.#quick("ListRoutes", "ListRoutesRequest", {}, "Routes");
    return r.Routes as NetRoute[];
  }
}
