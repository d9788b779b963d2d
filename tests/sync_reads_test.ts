/**
 * No synchronous read of a device tensor on a per-step path: `dataSync()`/`arraySync()` throw on
 * tfjs-webgpu in Deno (DESIGN §5). Every remaining call site in `lib/` is listed here with its
 * count and the reason it cannot run on a GPU backend's per-step path; a new call fails this test.
 */
import { assertEquals } from "@std/assert";

const ALLOWED: Record<string, { count: number; why: string }> = {
  "lib/validate.ts": {
    count: 2,
    why: "checkFinite/checkMask return early when isDeviceBackend() (documented)",
  },
  "lib/policy/transformer.ts": {
    count: 1,
    why: "checkTokens reads ids only when !isDeviceBackend()",
  },
  "lib/advantage/generalized_advantages.ts": {
    count: 3,
    why: "host scan, reached only when !isDeviceBackend() (tfjs-op scan otherwise)",
  },
  "lib/advantage/discounted_returns.ts": {
    count: 2,
    why: "host scan, reached only when !isDeviceBackend() (tfjs-op scan otherwise)",
  },
  "lib/advantage/whiten.ts": {
    count: 1,
    why: "valid count read only when !isDeviceBackend() (a tensor otherwise)",
  },
  "lib/score/kl_shaped_rewards.ts": {
    count: 4,
    why: "host path, reached only when !isDeviceBackend() (tfjs ops otherwise)",
  },
  "lib/metrics/clip_fraction.ts": {
    count: 1,
    why: "the synchronous public clipFraction throws on GPU backends; steps use clipFractionCounts",
  },
  "lib/metrics/approx_kl.ts": {
    count: 1,
    why: "the synchronous public approxKl throws on GPU backends; steps use approxKlSums",
  },
  "lib/metrics/explained_variance.ts": {
    count: 1,
    why: "the synchronous public explainedVariance throws on GPU backends; PPO uses the async one",
  },
  "lib/metrics/reward_stats.ts": {
    count: 1,
    why: "only for a tensor argument; every recipe passes the host number[] rewards",
  },
  "lib/policy/layers.ts": {
    count: 4,
    why: "typed-array kernels, run only when useTypedKernels() (never on GPU backends)",
  },
  "lib/policy/causal_attention.ts": {
    count: 3,
    why: "typed-array kernel, run only when useTypedKernels() (never on GPU backends)",
  },
  "lib/sample/typed_decode.ts": {
    count: 3,
    why: "the typed decoder, chosen by decode only when useTypedKernels() (never on GPU backends)",
  },
};

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("lib/ has no dataSync/arraySync beyond the justified allow-list", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const found: Record<string, number> = {};
  for await (const path of sources(`${root}lib`)) {
    const lines = (await Deno.readTextFile(path)).split("\n");
    // JSDoc examples (lines starting with `*`) run on cpu and are not per-step code.
    const count = lines.filter((l) => !/^\s*(\*|\/\/)/.test(l))
      .filter((l) => /\b(dataSync|arraySync)\s*\(/.test(l)).length;
    if (count > 0) found[path.slice(root.length)] = count;
  }
  const expected = Object.fromEntries(Object.entries(ALLOWED).map(([k, v]) => [k, v.count]));
  assertEquals(
    Object.fromEntries(Object.entries(found).sort()),
    Object.fromEntries(Object.entries(expected).sort()),
    "a synchronous read was added or removed in lib/: read with `await t.data()`, or justify it in ALLOWED",
  );
});
