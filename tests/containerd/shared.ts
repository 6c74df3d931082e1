/**
 * One private containerd shared by the tests of a file, the container ids
 * they used, and the closing test that checks nothing was left behind for
 * any of them before stopping containerd.
 * @module
 */
import { assertEquals } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { Containerd } from "./harness.ts";

/** A lazily started containerd for one test file. */
export class SharedContainerd {
  #ctd: Containerd | null = null;
  readonly usedIds: string[] = [];

  constructor() {
    // A run aborted between tests still must not leave containerd behind.
    globalThis.addEventListener("unload", () => {
      if (this.#ctd) void this.#ctd.stop();
    });
  }

  /** The containerd, started on first use. */
  async get(): Promise<Containerd> {
    this.#ctd ??= await Containerd.start();
    return this.#ctd;
  }

  /** A fresh container id for runtime r, remembered for the leak check. */
  newId(r: string, what: string): string {
    const id = `${r}-${what}-${Math.random().toString(36).slice(2, 7)}`;
    this.usedIds.push(id);
    return id;
  }

  /** Registers the file's last test: no leftovers for any id used, then containerd stops. */
  afterwardsTest(name: string): void {
    Deno.test({
      name,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const c = await this.get();
        try {
          await waitFor(
            async () => (await c.leftovers(this.usedIds)).length === 0,
            "leftovers to go",
            15_000,
          )
            .catch(() => {});
          assertEquals(await c.leftovers(this.usedIds), []);
        } finally {
          await c.stop();
          this.#ctd = null;
        }
      },
    });
  }
}
