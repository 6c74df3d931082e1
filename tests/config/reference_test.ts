/**
 * The commented default file (config/configuration.toml) and the key table
 * of docs/configuration.md are exactly what src/config/reference.ts renders
 * from the key table, and the default file loads to the built-in defaults
 * both as shipped and with every key uncommented.
 * @module
 */
import { defaultConfig, KEYS, loadConfig } from "../../src/config/mod.ts";
import { renderDefaultToml, renderReferenceTable, tableCells } from "../../src/config/reference.ts";
import { assertEquals } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const root = new URL("../../", import.meta.url);
const regenerate = "run `deno run -A src/config/reference.ts` to regenerate";

Deno.test("config/configuration.toml is the rendered default file", async () => {
  const text = await Deno.readTextFile(new URL("config/configuration.toml", root));
  assertEquals(text, renderDefaultToml(), regenerate);
});

Deno.test("the default file loads to the defaults, commented and uncommented", async () => {
  const path = new URL("config/configuration.toml", root).pathname;
  const shipped = await loadConfig({ path, env: {} });
  assertEquals(shipped.config, defaultConfig());
  const text = await Deno.readTextFile(path);
  const uncommented = text.replace(/^# ([a-z_]+ = .*)$/gm, "$1");
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.toml`, uncommented);
    const loaded = await loadConfig({ path: `${dir}/c.toml`, env: {} });
    assertEquals(loaded.config, defaultConfig());
    for (const spec of KEYS) {
      assertEquals(loaded.sources[spec.key], `file:${dir}/c.toml`, `${spec.key} is in the file`);
    }
  });
});

Deno.test("docs/configuration.md lists every key as the key table says", async () => {
  const docs = await Deno.readTextFile(new URL("docs/configuration.md", root));
  assertEquals(tableCells(docs), tableCells(renderReferenceTable()), regenerate);
  assertEquals(tableCells(docs).length, KEYS.length + 2);
});
