/**
 * Benchmark records in the shape of shared/BENCHMARKS.md, plus the small
 * statistics every benchmark needs. Benchmarks never assert on timings.
 * @module
 */

/** One result line of bench/results/latest.json. */
export interface BenchRecord {
  id: string;
  metric: string;
  unit: string;
  joey: number | null;
  peer: string | null;
  peer_value: number | null;
  ratio: number | null;
  target: string;
  runs: number;
  stat: string;
  host: string;
  notes: string;
}

/** A benchmark: `run` measures and returns one or more records. */
export interface Benchmark {
  /** Record id(s) this benchmark produces; `--only` filters on these prefixes. */
  ids: string[];
  run(): Promise<BenchRecord[]>;
}

/** The median of the samples (NaN for none). */
export function median(samples: number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds for display in the JSON (keeps 3 significant decimals). */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Describes this host in the words the records use. */
export function hostDescription(): string {
  let kvm = "no KVM";
  try {
    Deno.statSync("/dev/kvm");
    const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
    kvm = /\b(vmx|svm)\b/.test(cpuinfo) ? "KVM (VMX/SVM)" : "PVM KVM";
  } catch { /* no /dev/kvm */ }
  return `${navigator.hardwareConcurrency} cores, ${kvm}`;
}

/** Builds a record, deriving ratio from joey / peer_value where both exist. */
export function makeRecord(
  fields: Omit<BenchRecord, "ratio" | "host" | "notes" | "peer" | "peer_value"> & {
    peer?: string | null;
    peer_value?: number | null;
    notes?: string;
  },
): BenchRecord {
  const peerValue = fields.peer_value ?? null;
  const ratio = fields.joey !== null && peerValue !== null && peerValue !== 0
    ? round(fields.joey / peerValue)
    : null;
  return {
    id: fields.id,
    metric: fields.metric,
    unit: fields.unit,
    joey: fields.joey === null ? null : round(fields.joey),
    peer: fields.peer ?? null,
    peer_value: peerValue === null ? null : round(peerValue),
    ratio,
    target: fields.target,
    runs: fields.runs,
    stat: fields.stat,
    host: hostDescription(),
    notes: fields.notes ?? "",
  };
}

/**
 * Measures two contenders alternately (A B A B …) so machine drift cancels,
 * returning the samples of each.
 */
export async function alternate(
  runs: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < runs; i++) {
    out.a.push(await a());
    out.b.push(await b());
  }
  return out;
}
