/**
 * Writes bench/results/latest.json, a dated copy, latest.md and an SVG bar
 * chart of the ratios, all made from the records (never typed by hand).
 * @module
 */
import type { BenchRecord } from "./record.ts";

function formatValue(v: number | null): string {
  return v === null ? "—" : String(v);
}

/** The markdown table for the records. */
export function markdownTable(records: BenchRecord[]): string {
  const lines = [
    "| id | metric | joey | peer | ratio | target | unit | runs | notes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of records) {
    const peer = r.peer === null ? "—" : `${formatValue(r.peer_value)} (${r.peer})`;
    lines.push(
      `| ${r.id} | ${r.metric} | ${formatValue(r.joey)} | ${peer} | ${formatValue(r.ratio)} | ` +
        `${r.target} | ${r.unit} | ${r.runs} (${r.stat}) | ${r.notes.replaceAll("|", "\\|")} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** A horizontal bar chart of joey/peer ratios (records with a ratio only). */
export function ratioChart(records: BenchRecord[]): string {
  const rows = records.filter((r) => r.ratio !== null);
  const barMax = 400, rowH = 24, left = 260;
  const maxRatio = Math.max(1, ...rows.map((r) => r.ratio!));
  const height = rows.length * rowH + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barMax + 80}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<text x="4" y="16">joey / peer (lower is faster for times; 1.0 = parity)</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 30 + i * rowH;
    const w = (r.ratio! / maxRatio) * barMax;
    parts.push(`<text x="4" y="${y + 14}">${r.id}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${w}" height="${rowH - 6}" fill="#4a7bd0"/>`);
    parts.push(`<text x="${left + w + 4}" y="${y + 14}">${r.ratio}</text>`);
  });
  const one = left + (1 / maxRatio) * barMax;
  parts.push(`<line x1="${one}" y1="26" x2="${one}" y2="${height}" stroke="#c00"/>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/**
 * Merges new records into latest.json (replacing records with the same id, so
 * `--only` runs keep the others) and writes every derived file.
 */
export async function writeResults(dir: string, records: BenchRecord[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const latestPath = `${dir}/latest.json`;
  let previous: BenchRecord[] = [];
  try {
    previous = JSON.parse(await Deno.readTextFile(latestPath));
  } catch { /* first run */ }
  const byId = new Map(previous.map((r) => [r.id, r]));
  for (const r of records) byId.set(r.id, r);
  const merged = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  const json = JSON.stringify(merged, null, 2) + "\n";
  const stamp = new Date().toISOString().replaceAll(":", "-").replace(/\..*/, "");
  await Deno.writeTextFile(latestPath, json);
  await Deno.writeTextFile(`${dir}/${stamp}.json`, JSON.stringify(records, null, 2) + "\n");
  await Deno.writeTextFile(`${dir}/latest.md`, markdownTable(merged));
  await Deno.writeTextFile(`${dir}/latest.svg`, ratioChart(merged));
  return latestPath;
}
