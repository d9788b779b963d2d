/**
 * The fused Adam update against tfjs's `AdamOptimizer` (the reference): bit-identical weights and
 * moments after several steps (both the SIMD and the typed-array loop; sizes with and without a
 * tail of fewer than 4 floats), a weight whose buffer is shared with another tensor left intact, the same
 * `getWeights` state, moments held beside the wasm heap (not one byte on it), a `setWeights`
 * round trip that continues bit for bit, and no leaked tensors.
 */
import { assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { fusedAdam, setSimdAdam } from "../../lib/policy/fused_adam.ts";

await initBackend({ backend: "wasm" });

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

for (const simd of [true, false]) {
  Deno.test(`fusedAdam (${simd ? "WebAssembly SIMD" : "typed-array"} loop) equals tf.train.adam over 5 steps`, async () => {
    const previous = setSimdAdam(simd);
    const shapes = [[7, 5], [5], [3, 4, 2]];
    const make = () =>
      shapes.map((s, k) => tf.variable(tf.randomNormal(s, 0, 1, "float32", 10 + k)));
    const reference = make();
    const fused = make();
    // A shared buffer: this tensor must not change when its variable is updated.
    const shared = tf.randomNormal([6], 0, 1, "float32", 99);
    const sharedCopy = await shared.data();
    const refShared = tf.variable(shared.clone());
    const fusedShared = tf.variable(shared);
    const before = tf.memory().numTensors;
    const optRef = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    const optFused = fusedAdam(0.01, 0.9, 0.999, 1e-8);
    for (let step = 0; step < 5; step++) {
      const grads = [...shapes, [6]].map((s, k) =>
        tf.randomNormal(s, 0, step === 2 ? 1e-3 : 1, "float32", 100 * step + k)
      );
      optRef.applyGradients(
        [...reference, refShared].map((v, k) => ({ name: v.name, tensor: grads[k] })),
      );
      optFused.applyGradients(
        [...fused, fusedShared].map((v, k) => ({ name: v.name, tensor: grads[k] })),
      );
      tf.dispose(grads);
    }
    const all = [...reference, refShared];
    const allFused = [...fused, fusedShared];
    for (let k = 0; k < all.length; k++) {
      const d = maxDiff(
        await all[k].data() as Float32Array,
        await allFused[k].data() as Float32Array,
      );
      assertEquals(d, 0, `variable ${k}: max difference ${d}`);
    }
    assertEquals(await shared.data(), sharedCopy, "a tensor sharing the weight's buffer changed");
    const [wr, wf] = [await optRef.getWeights(), await optFused.getWeights()];
    assertEquals(wf.map((w) => w.tensor.shape), wr.map((w) => w.tensor.shape));
    for (let k = 0; k < wr.length; k++) {
      const d = maxDiff(
        await wr[k].tensor.data() as Float32Array,
        await wf[k].tensor.data() as Float32Array,
      );
      assertEquals(d, 0, `optimizer state ${wr[k].name}: max difference ${d}`);
    }
    assertEquals(optFused.iterations, optRef.iterations);
    wr[0].tensor.dispose();
    tf.dispose(wf.map((w) => w.tensor)); // the fused moments are copies
    // tfjs's moments (2 per variable, 4 variables) and β₁ᵗ, β₂ᵗ; the fused one's β₁ᵗ, β₂ᵗ only.
    assertEquals(tf.memory().numTensors, before + (2 * 4 + 2) + 2);
    // Each variable's two moments, rounded up to whole f32x4 lanes: 35 → 36, 5 → 8, 24, 6 → 8.
    assertEquals(optFused.bytesBesideHeap, 2 * 4 * (36 + 8 + 24 + 8));
    optRef.dispose();
    optFused.dispose();
    tf.dispose([...all, ...allFused, shared]);
    setSimdAdam(previous);
  });
}

Deno.test("fusedAdam: setWeights from a saved state continues bit for bit, and nothing of the moments is on the heap", async () => {
  const make = () => [tf.variable(tf.randomNormal([9, 3], 0, 1, "float32", 1))];
  const grads = (step: number) => [tf.randomNormal([9, 3], 0, 1, "float32", 50 + step)];
  const step = (opt: tf.Optimizer, vars: tf.Variable[], k: number) => {
    const g = grads(k);
    opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: g[i] })));
    tf.dispose(g);
  };
  // The reference: tfjs's Adam through the same round trip (its setWeights recomputes β^(t+1) with
  // pow, so an uninterrupted run may differ in the last bit; train() restores the running product).
  const reference = make();
  const before = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
  for (let k = 0; k < 2; k++) step(before, reference, k);
  const optRef = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
  await optRef.setWeights(await before.getWeights());
  for (let k = 2; k < 4; k++) step(optRef, reference, k);

  const resumed = make();
  const first = fusedAdam(0.05, 0.9, 0.999, 1e-8);
  for (let k = 0; k < 2; k++) step(first, resumed, k);
  const heapBefore = tf.memory().numBytes;
  const saved = await first.getWeights();
  first.dispose();
  const second = fusedAdam(0.05, 0.9, 0.999, 1e-8);
  await second.setWeights(saved);
  tf.dispose(saved.map((w) => w.tensor));
  // The first optimizer's β₁ᵗ, β₂ᵗ are gone and the second's made: moments add nothing.
  assertEquals(tf.memory().numBytes, heapBefore, "the moments are not on the heap");
  for (let k = 2; k < 4; k++) step(second, resumed, k);
  assertEquals(await resumed[0].data(), await reference[0].data());
  [before, optRef, second].forEach((o) => o.dispose());
  tf.dispose([...reference, ...resumed]);
});
