/**
 * Runs a command on a pseudo-terminal (through util-linux `script`), so a
 * test can drive `ctr run -t` the way a person at a terminal would.
 * @module
 */

/** A command running on a pty: write keystrokes, read the screen output. */
export class PtySession {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #output = "";
  #reading: Promise<void>;

  constructor(command: string) {
    this.#child = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { TERM: "dumb" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const dec = new TextDecoder();
    const stdout = this.#child.stdout;
    this.#reading = (async () => {
      for await (const chunk of stdout) this.#output += dec.decode(chunk, { stream: true });
    })();
    this.#child.stderr.cancel().catch(() => {});
  }

  get output(): string {
    return this.#output;
  }

  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Waits until the output contains text (bounded). */
  async expect(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () =>
      typeof text === "string" ? this.#output.includes(text) : text.test(this.#output);
    while (!found()) {
      if (Date.now() > deadline) {
        throw new Error(
          `pty: ${text} not seen within ${timeoutMs} ms; output so far: ${
            JSON.stringify(this.#output)
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits for the command to exit (bounded; killed after timeoutMs) and returns its code. */
  async wait(timeoutMs = 15_000): Promise<number> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    clearTimeout(timer);
    await this.#reading.catch(() => {});
    return status.code;
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* exited */ }
  }
}
