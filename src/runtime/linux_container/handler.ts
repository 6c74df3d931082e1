/**
 * The linux-container RuntimeHandler: containers on the host through the
 * OCI runtime binary (runc or crun). The shared ContainerTable finds
 * containers by id and leaves each operation to its Container.
 * @module
 */
import type { CreateContainerOptions } from "../mod.ts";
import { ContainerTable } from "../container_table.ts";
import { Container, type ContainerContext } from "./container.ts";

/** Runs containers with runc/crun for one shim. */
export class LinuxContainerHandler extends ContainerTable<Container> {
  readonly name = "linux-container";
  #ctx: ContainerContext;

  constructor(ctx: ContainerContext) {
    super();
    this.#ctx = ctx;
  }

  /** Create: rootfs mounted, stdio ready, `runc create` done; the init waits for start. */
  protected createContainer(o: CreateContainerOptions): Promise<Container> {
    return Container.create(o, this.#ctx);
  }
}
