/**
 * OOM detection for one container: on cgroup v1 an eventfd registered on
 * memory.oom_control, on v2 changes of memory.events. A v1 event arrives
 * when the cgroup goes under OOM, before the kill is counted, so it counts
 * as long as the cgroup still exists (v1 also signals the eventfd when the
 * cgroup is removed); a v2 change counts when the oom_kill counter grew.
 * @module
 */
import { ioLoop, oomEventFdV1, type RawFd } from "../../os/mod.ts";
import { type CgroupPaths, parseFlatKeyed } from "./cgroup.ts";

/** Watches one cgroup for OOM kills until close(). */
export class OomWatcher {
  #watchId = 0;
  #efd: RawFd | null = null;
  #fsWatcher: Deno.FsWatcher | null = null;
  #loop: Promise<void> = Promise.resolve();
  #file: string;
  #seen = 0;

  private constructor(file: string) {
    this.#file = file;
  }

  /** Starts watching; null when the cgroup has no memory controller to watch. */
  static async start(paths: CgroupPaths, onOom: () => void): Promise<OomWatcher | null> {
    if (paths.version === 1) {
      const dir = paths.dirs.get("memory");
      if (!dir) return null;
      const w = new OomWatcher(`${dir}/memory.oom_control`);
      w.#seen = await w.#count();
      w.#efd = oomEventFdV1(dir);
      w.#loop = w.#watchEventFd(w.#efd, onOom);
      return w;
    }
    const w = new OomWatcher(`${paths.dir}/memory.events`);
    w.#seen = await w.#count();
    w.#fsWatcher = Deno.watchFs(w.#file, { recursive: false });
    w.#loop = w.#watchFile(w.#fsWatcher, onOom);
    return w;
  }

  async #count(): Promise<number> {
    const text = await Deno.readTextFile(this.#file).catch(() => "");
    return Number(parseFlatKeyed(text).get("oom_kill") ?? "0");
  }

  async #check(onOom: () => void): Promise<void> {
    const n = await this.#count();
    if (n > this.#seen) {
      this.#seen = n;
      onOom();
    }
  }

  #watchEventFd(efd: RawFd, onOom: () => void): Promise<void> {
    const { id, done } = ioLoop().watch(efd, () => {
      Deno.stat(this.#file).then(() => onOom(), () => {});
    });
    this.#watchId = id;
    return done.then(() => {});
  }

  async #watchFile(watcher: Deno.FsWatcher, onOom: () => void): Promise<void> {
    try {
      for await (const _ of watcher) await this.#check(onOom);
    } catch {
      // The cgroup was removed.
    }
  }

  /** Stops watching and releases the fd or watcher. */
  async close(): Promise<void> {
    if (this.#watchId) ioLoop().cancel(this.#watchId);
    this.#fsWatcher?.close();
    await this.#loop;
    this.#efd?.close();
  }
}
