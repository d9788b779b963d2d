/**
 * The fused Adam update against tfjs's `AdamOptimizer` (the reference): bit-identical weights and
 * moments after several steps (both the SIMD and the typed-array loop; sizes with and without a
 * tail of fewer than 4 floats), a weight whose buffer is shared with another tensor left intact, the same
 * `getWeights` state, and no leaked tensors.
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
    wf[0].tensor.dispose();
    // Moments (2 per variable, 4 variables) and β₁ᵗ, β₂ᵗ, for both optimizers: nothing else.
    assertEquals(tf.memory().numTensors, before + 2 * (2 * 4 + 2));
    optRef.dispose();
    optFused.dispose();
    tf.dispose([...all, ...allFused, shared]);
    setSimdAdam(previous);
  });
}
