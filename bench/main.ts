/**
 * `make bench [ONLY=<prefix>]`: runs every benchmark module in bench/suites/
 * (each exports `benchmarks: Benchmark[]`) and writes bench/results/.
 * A benchmark that cannot run is reported and makes the exit status 1.
 * @module
 */
import { parseArgs } from "node:util";
import type { Benchmark, BenchRecord } from "./lib/record.ts";
import { writeResults } from "./lib/report.ts";

const { values } = parseArgs({ options: { only: { type: "string" } } });
const only = values.only ?? "";
const suitesDir = new URL("./suites/", import.meta.url);
const files = [...Deno.readDirSync(suitesDir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .map((e) => e.name)
  .sort();

const records: BenchRecord[] = [];
let failures = 0;
for (const file of files) {
  const mod = await import(new URL(file, suitesDir).href) as { benchmarks?: Benchmark[] };
  for (const bench of mod.benchmarks ?? []) {
    if (only && !bench.ids.some((id) => id.startsWith(only))) continue;
    console.log(`bench: ${bench.ids.join(", ")} (${file})`);
    try {
      const out = await bench.run();
      for (const r of out) {
        console.log(`  ${r.id}: joey=${r.joey} peer=${r.peer_value} ratio=${r.ratio} ${r.unit}`);
      }
      records.push(...out);
    } catch (err) {
      failures++;
      console.error(`bench: ${bench.ids.join(", ")} could not run: ${err}`);
    }
  }
}
const path = await writeResults(new URL("./results/", import.meta.url).pathname, records);
console.log(`bench: ${records.length} records written to ${path}`);
Deno.exit(failures ? 1 : 0);
