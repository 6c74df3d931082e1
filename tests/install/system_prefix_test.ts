/**
 * A system-wide install (PREFIX=/usr/local) also installs
 * /etc/joey/configuration.toml, never over an existing one, and uninstall
 * removes it only when unchanged. Run in a private mount namespace with a
 * tmpfs over /usr/local and the /etc/joey directory redirected
 * (JOEY_ETC_DIR), so the host's own directories are never touched.
 * @module
 */
import { fileURLToPath } from "node:url";
import { assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const DENO = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;
const skip = Deno.uid() !== 0 ? "needs root (mount namespace)" : null;
if (skip) console.log(`system prefix test skipped: ${skip}`);

/** Runs a shell script in a new mount namespace with a fresh tmpfs on /usr/local. */
async function inPrivateUsrLocal(script: string, env: Record<string, string>) {
  const out = await new Deno.Command("unshare", {
    args: [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-ec",
      `mount -t tmpfs joeytest /usr/local\n${script}`,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "install into /usr/local adds /etc/joey/configuration.toml; uninstall keeps it once edited",
  ignore: skip !== null,
  fn: () =>
    withTempDir(async (dir) => {
      const etc = `${dir}/etc/joey`;
      const env = {
        JOEY_ETC_DIR: etc,
        DENO_DIR: Deno.env.get("DENO_DIR") ?? `${REPO}/.cache/deno`,
      };
      const install = `bash '${REPO}/scripts/install.sh' /usr/local '${REPO}' '${DENO}'`;
      const uninstall = `bash '${REPO}/scripts/uninstall.sh' /usr/local`;
      // Unchanged: installed, then removed with everything else.
      const clean = await inPrivateUsrLocal(
        `${install}\ntest -f '${etc}/configuration.toml'\n/usr/local/bin/joey env --json >/dev/null\n` +
          `${uninstall}\ntest ! -e '${etc}/configuration.toml'\ntest -z "$(ls -A /usr/local)"`,
        env,
      );
      assertEquals(clean.code, 0, clean.stderr);
      // Edited after install: kept, and said so.
      const edited = await inPrivateUsrLocal(
        `${install}\necho '# mine' >> '${etc}/configuration.toml'\n${uninstall}`,
        env,
      );
      assertEquals(edited.code, 0, edited.stderr);
      assertIncludes(
        edited.stderr,
        `keeping ${etc}/configuration.toml: it was changed after install`,
      );
      assertIncludes(await Deno.readTextFile(`${etc}/configuration.toml`), "# mine");
      // An existing file is never overwritten.
      await Deno.writeTextFile(`${etc}/configuration.toml`, "[runtime]\ndebug = true\n");
      const existing = await inPrivateUsrLocal(`${install}\n${uninstall}`, env);
      assertEquals(existing.code, 0, existing.stderr);
      assertIncludes(existing.stderr, `keeping the existing ${etc}/configuration.toml`);
      assertEquals(
        await Deno.readTextFile(`${etc}/configuration.toml`),
        "[runtime]\ndebug = true\n",
      );
    }),
});
