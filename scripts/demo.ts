/**
 * `make demo`: starts a private containerd (own state directory and socket),
 * imports the busybox test image built locally, runs a container through
 * io.containerd.joey.v2, prints its output and how long each step took, and
 * cleans up.
 * @module
 */
import { Containerd, IMAGE_NAME, JOEY_RUNTIME } from "../tests/containerd/harness.ts";

const steps: [string, number][] = [];
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  console.log(`==> ${name}`);
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    steps.push([name, ms]);
    console.log(`    (${ms.toFixed(0)} ms)`);
  }
}

const runtimeName = Deno.env.get("JOEY_RUNTIME") ?? "(configured default)";
const ctd = await step(
  "start a private containerd and import the busybox test image",
  () => Containerd.start({ runtime: null }),
);
let code = 0;
try {
  console.log(`    containerd socket: ${ctd.address}`);
  const id = `demo-${Date.now().toString(36)}`;
  const r = await step(
    `ctr run --rm --runtime ${JOEY_RUNTIME} (joey runtime: ${runtimeName})`,
    () =>
      ctd.ctr([
        "run",
        "--rm",
        "--runtime",
        JOEY_RUNTIME,
        IMAGE_NAME,
        id,
        "sh",
        "-c",
        "echo hello from a joey container; echo kernel: $(uname -r); echo on stderr >&2; exit 3",
      ], { timeoutMs: 120_000 }),
  );
  console.log("    --- container stdout ---");
  console.log(r.stdout.replace(/^/gm, "    ").trimEnd());
  console.log("    --- container stderr ---");
  console.log(r.stderr.replace(/^/gm, "    ").trimEnd());
  console.log(`    exit status: ${r.code} (the container exits 3)`);
  if (r.code !== 3) code = 1;
  const leftovers = await step("check that nothing is left behind", () => ctd.leftovers([id]));
  console.log(
    leftovers.length ? `    left behind: ${leftovers.join(", ")}` : "    nothing left behind",
  );
  if (leftovers.length) code = 1;
} finally {
  await step("stop containerd and clean up", () => ctd.stop());
}
console.log("\nstep times:");
for (const [name, ms] of steps) console.log(`  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
Deno.exit(code);
