/**
 * The shim daemon: serves containerd.task.v2.Task on the socket `start`
 * chose, logs to the bundle's `log` FIFO, publishes events to
 * TTRPC_ADDRESS, and exits after Shutdown once no container remains, or
 * gracefully on SIGTERM/SIGINT.
 * @module
 */
import { errorMessage } from "../errors.ts";
import { readBundleSpec } from "./bundle.ts";
import { markDeleted } from "./deleted_mark.ts";
import type { ShimFlags } from "./flags.ts";
import { log } from "./log.ts";
import { LogFifo } from "./log_fifo.ts";
import { VERSION } from "./self.ts";

const DEFAULT_TTRPC_ADDRESS = "/run/containerd/containerd.sock.ttrpc";
const NODE_IDLE_MS = 3000;

/** Tells `start` (on our stdout pipe) that the socket is ready, or why not. */
async function report(line: string): Promise<void> {
  try {
    await Deno.stdout.write(new TextEncoder().encode(line + "\n"));
  } catch { /* start already gone */ }
}

/**
 * Runs the daemon until shutdown; returns the exit code. The socket is bound
 * and `start` told first, and the service modules load afterwards: containerd's
 * first request waits in the socket's backlog meanwhile, so loading overlaps
 * with `start` exiting and containerd connecting.
 */
export async function runDaemon(flags: ShimFlags): Promise<number> {
  const bundle = Deno.cwd();
  let listener: Deno.UnixListener;
  try {
    // `start` removed a stale socket file; a bound one belongs to a live daemon.
    listener = Deno.listen({ transport: "unix", path: flags.socket });
    await Deno.chmod(flags.socket, 0o600);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      await report("exists");
      return 0;
    }
    await report(`error cannot listen on ${flags.socket}: ${errorMessage(err)}`);
    return 1;
  }
  await report(`ready ${Deno.pid}`);

  // The log goes to the bundle's FIFO, which containerd reads; when that
  // container is deleted, to the FIFO of another one this daemon serves.
  const logFifo = new LogFifo();
  await logFifo.openFirst(flags.id, bundle);
  log.setSink(logFifo);
  // A pod shim outlives the bundle it started in (containerd removes it
  // with that container), and children cannot be spawned from a deleted cwd.
  Deno.chdir("/");
  if (flags.debug) log.setLevel("debug");
  const shimLog = log.with({ namespace: flags.namespace, id: flags.id });

  const [
    { loadConfig },
    { RuntimeSelector },
    { EventPublisher },
    { TASK_SERVICE, TaskService },
    { TtrpcServer },
  ] = await Promise.all([
    import("../config/mod.ts"),
    import("../runtime/registry.ts"),
    import("../service/events.ts"),
    import("../service/task_service.ts"),
    import("../ttrpc/server.ts"),
  ]);
  const events = new EventPublisher(
    Deno.env.get("TTRPC_ADDRESS") || DEFAULT_TTRPC_ADDRESS,
    flags.namespace,
    shimLog,
  );
  let lastConnection = Date.now();
  const server = new TtrpcServer({
    onError: (err) => shimLog.warn("ttrpc connection error", { error: err }),
    onConnection: () => (lastConnection = Date.now()),
  });
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  let stopping = false;
  let selector: InstanceType<typeof RuntimeSelector>;

  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    clearTimeout(idleTimer);
    shimLog.info("shim shutting down", { reason });
    server.close();
    for (const rt of await selector.handlers()) {
      await rt.shutdown().catch((err) => shimLog.error("runtime shutdown failed", { error: err }));
    }
    await events.flush();
    events.close();
    await Deno.remove(flags.socket).catch(() => {});
    await log.flush();
    resolveExit(0);
  };

  // A node-wide daemon outlives its containers for a while: a `start` that
  // just found it live is about to send Create. It exits once it has had
  // no container and no new connection for NODE_IDLE_MS.
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleIdleExit = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (service.containerCount > 0) return;
      if (Date.now() - lastConnection < NODE_IDLE_MS) scheduleIdleExit();
      else void stop("idle node shim");
    }, NODE_IDLE_MS);
  };
  let service: InstanceType<typeof TaskService>;

  try {
    const loaded = await loadConfig();
    if (loaded.config.runtime.debug) log.setLevel("debug");
    service = new TaskService({
      namespace: flags.namespace,
      events,
      runtimes: { select: (id, spec) => selector.select(id, spec) },
      onShutdown: (now) => {
        if (now || flags.mode !== "node") setTimeout(() => stop("Shutdown"), 10);
        else scheduleIdleExit();
      },
      version: VERSION,
      log: shimLog,
      onCreated: (id, bundle) => logFifo.added(id, bundle),
      onDeleted: async (id, bundle) => {
        logFifo.removed(id);
        // Tells `delete`, which containerd runs next, that nothing is left.
        await markDeleted(bundle);
      },
    });
    selector = new RuntimeSelector(loaded, {
      exited: (exit) => service.processExited(exit),
      oom: (id) => service.oom(id),
    }, flags.namespace);
    server.register(TASK_SERVICE, service.methods());
  } catch (err) {
    // Configuration errors: containerd's requests fail and the log says why.
    shimLog.error("shim daemon failed to start", { error: err });
    await log.flush();
    listener.close();
    await Deno.remove(flags.socket).catch(() => {});
    return 1;
  }

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(sig, () => void stop(sig));
  }
  shimLog.info("shim daemon serving", { socket: flags.socket, pid: Deno.pid });
  const serving = server.serve(listener);
  // containerd is connecting meanwhile: get the runtime of the container
  // that started this daemon ready (its module, the OS helper library), so
  // its Create does not wait for that. Create selects the same handler.
  void readBundleSpec(bundle).then((spec) => selector.select(flags.id, spec)).catch(() => {});
  const code = await exited;
  await serving.catch(() => {});
  logFifo.close();
  return code;
}
