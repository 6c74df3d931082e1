/**
 * Finds the line of a key in TOML source text. The TOML parser gives lines
 * only for syntax errors, but an operator fixing an unknown key or a wrong
 * type needs the line too, so this scans the text for table headers and
 * `key =` lines (dotted and quoted keys included) and tracks the current
 * table. Multi-line strings are skipped. It is a locator, not a parser: the
 * document has already parsed when it is asked.
 * @module
 */

const BARE = String.raw`[A-Za-z0-9_-]+`;
const BASIC = String.raw`"(?:[^"\\]|\\.)*"`;
const LITERAL = String.raw`'[^']*'`;
const PART = `(?:${BARE}|${BASIC}|${LITERAL})`;
const DOTTED = `${PART}(?:\\s*\\.\\s*${PART})*`;
const HEADER_RE = new RegExp(String.raw`^\s*\[\[?\s*(${DOTTED})\s*\]\]?`);
const KEY_RE = new RegExp(String.raw`^\s*(${DOTTED})\s*=`);
const PART_RE = new RegExp(PART, "g");

/** Splits a dotted TOML key into its unquoted parts. */
function splitKey(text: string): string[] {
  return [...text.matchAll(PART_RE)].map(([p]) => {
    if (p.startsWith('"')) {
      try {
        return JSON.parse(p) as string;
      } catch {
        return p.slice(1, -1);
      }
    }
    return p.startsWith("'") ? p.slice(1, -1) : p;
  });
}

function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function isPrefix(prefix: string[], of: string[]): boolean {
  return prefix.length <= of.length && prefix.every((p, i) => p === of[i]);
}

/**
 * The 1-based line where `path` is defined: its `key =` line, or its table
 * header; failing both, the line of its nearest defined ancestor (an inline
 * table, say); null when nothing matches.
 */
export function findKeyLine(source: string, path: string[]): number | null {
  const lines = source.split(/\r?\n/);
  let table: string[] = [];
  let fallback: { line: number; depth: number } | null = null;
  let inMultiline: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = null;
      continue;
    }
    let defined: string[] | null = null;
    const header = HEADER_RE.exec(line);
    if (header) {
      table = splitKey(header[1]!);
      defined = table;
    } else {
      const key = KEY_RE.exec(line);
      if (key) {
        defined = [...table, ...splitKey(key[1]!)];
        // A multi-line string opened on this line hides the lines after it.
        const rest = line.slice(key[0].length);
        for (const quote of ['"""', "'''"]) {
          const at = rest.indexOf(quote);
          if (at >= 0 && rest.indexOf(quote, at + 3) < 0) inMultiline = quote;
        }
      }
    }
    if (!defined) continue;
    if (samePath(defined, path)) return i + 1;
    if (isPrefix(defined, path) && (!fallback || defined.length > fallback.depth)) {
      fallback = { line: i + 1, depth: defined.length };
    }
  }
  return fallback?.line ?? null;
}
