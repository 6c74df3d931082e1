/**
 * The kernel parameters the QEMU hypervisor adds under TCG: the boot-time
 * ones that only suit a uniprocessor guest (no APIC timer, lock prefixes
 * left alone) are given for one vCPU and never for more, where dropping the
 * APIC timer would cost the guest its high-resolution timers.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { TCG_PARAMS, TCG_UP_PARAMS, tcgKernelParams } from "../../src/hypervisor/qemu/mod.ts";

Deno.test("tcgKernelParams: one vCPU gets the uniprocessor boot parameters", async () => {
  const words = (await tcgKernelParams(1)).split(" ");
  for (const p of [...TCG_PARAMS, ...TCG_UP_PARAMS]) assert(words.includes(p), `missing ${p}`);
  assertEquals(words.filter((w) => w.startsWith("tsc_early_khz=")).length, 1);
});

Deno.test("tcgKernelParams: more vCPUs keep the APIC timer and SMP patching", async () => {
  for (const vcpus of [2, 4]) {
    const words = (await tcgKernelParams(vcpus)).split(" ");
    for (const p of TCG_PARAMS) assert(words.includes(p), `missing ${p}`);
    for (const p of TCG_UP_PARAMS) assert(!words.includes(p), `${p} given for ${vcpus} vCPUs`);
  }
});
