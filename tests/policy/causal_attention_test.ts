import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import {
  causalAttention,
  setTypedKernels,
  useTypedKernels,
} from "../../lib/policy/causal_attention.ts";
import { setSimdKernels, simdKernelsAvailable } from "../../lib/policy/attention_simd.ts";
import { trunk } from "../../lib/policy/layers.ts";
import { randomiseWeights, TEST_BACKENDS } from "./reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 9,
  dModel: 12,
  layers: 2,
  heads: 3,
  maxLength: 10,
  seed: 4,
};
const TOKENS = [[3, 1, 4, 1, 5, 8], [0, 0, 2, 7, 1, 8], [0, 0, 0, 0, 0, 6]];
const PADS = [0, 2, 5];

/** Hidden states (real positions only) and the gradient of a weighted sum of them. */
function run(mode: "on" | "off") {
  const previous = setTypedKernels(mode);
  try {
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 61, 0.5);
    const tokens = tf.tensor2d(TOKENS, [3, 6], "int32");
    const weights = tf.tidy(() => {
      const w = new Float32Array(3 * 6 * CONFIG.dModel).map((_, i) => Math.sin(i));
      const mask = new Float32Array(3 * 6 * CONFIG.dModel).map((_, i) => {
        const [b, j] = [Math.floor(i / (6 * CONFIG.dModel)), Math.floor(i / CONFIG.dModel) % 6];
        return j >= PADS[b] ? 1 : 0;
      });
      return tf.mul(
        tf.tensor3d(w, [3, 6, CONFIG.dModel]),
        tf.tensor3d(mask, [3, 6, CONFIG.dModel]),
      );
    });
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const { hidden } = trunk(policy.weights, CONFIG, tokens, { padCounts: PADS });
        return tf.sum(tf.mul(tf.mul(hidden, hidden), weights)) as tf.Scalar;
      })
    );
    const out = {
      value: value.dataSync()[0],
      // Every trunk weight (the output head is not part of the trunk).
      grads: [...policy.weights].filter(([name]) => name !== "head").map(([name, w]) =>
        [name, grads[w.name].dataSync()] as const
      ),
    };
    tf.dispose([value, ...Object.values(grads)]);
    assertEquals(tf.memory().numTensors, before);
    tf.dispose([tokens, weights]);
    policy.dispose();
    return out;
  } finally {
    setTypedKernels(previous);
  }
}

for (const backend of TEST_BACKENDS) {
  Deno.test(`typed-array kernels give the tfjs-op forward and gradients on left-padded rows (${backend})`, async () => {
    await initBackend({ backend });
    assertEquals(useTypedKernels(), true);
    const typed = run("on");
    const reference = run("off");
    assertArrayAlmostEquals([typed.value], [reference.value], 1e-4 * Math.abs(reference.value));
    assertEquals(typed.grads.length, 2 + 12 * CONFIG.layers + 2);
    for (let i = 0; i < typed.grads.length; i++) {
      const [name, g] = typed.grads[i];
      const scale = Math.max(...reference.grads[i][1].map(Math.abs));
      assertEquals(name, reference.grads[i][0]);
      if (scale === 0) continue;
      assertArrayAlmostEquals(g, reference.grads[i][1], 1e-4 * scale, name);
    }
  });
}

/**
 * Masked-softmax attention from tfjs ops (batched matmuls, −10⁹ bias on future and padded keys),
 * independent of the typed kernel: `[B·T, 3d]` → `[B·T, d]`.
 */
function maskedAttention(
  qkv: tf.Tensor2D,
  b: number,
  t: number,
  h: number,
  pads: number[],
): tf.Tensor2D {
  const d = qkv.shape[1] / 3;
  const dh = d / h;
  const heads = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [b, t, h, dh]), [0, 2, 1, 3]);
  const [q, k, v] = (tf.split(qkv, 3, 1) as tf.Tensor2D[]).map(heads);
  const bias = new Float32Array(b * t * t);
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < t; j++) if (j > i || j < pads[r]) bias[(r * t + i) * t + j] = -1e9;
    }
  }
  const scores = tf.add(
    tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh)),
    tf.tensor4d(bias, [b, 1, t, t]),
  );
  const out = tf.matMul(tf.softmax(scores), v);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b * t, d]) as tf.Tensor2D;
}

/** Typed output and gradient vs {@linkcode maskedAttention} at one shape (B, T, H, d). */
function compareWithMasked(shape: [number, number, number, number], pads: number[]) {
  const [b, t, h, d] = shape;
  const rng = (i: number) => Math.sin(12.9898 * i + 78.233) * 1.7;
  const qkv = tf.tensor2d(Float32Array.from({ length: b * t * 3 * d }, (_, i) => rng(i)), [
    b * t,
    3 * d,
  ]);
  // Weights on the real positions only (padded queries' outputs are never read).
  const weights = tf.tensor2d(
    Float32Array.from(
      { length: b * t * d },
      (_, i) => (Math.floor(i / d) % t >= pads[Math.floor(i / (t * d))] ? Math.cos(i) : 0),
    ),
    [b * t, d],
  );
  const loss = (f: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) =>
    tf.sum(tf.mul(f(x as tf.Tensor2D), weights));
  const real = (y: tf.Tensor2D) => tf.mul(y, tf.notEqual(weights, 0));
  const before = tf.memory().numTensors;
  const typedOut = tf.tidy(() => real(causalAttention(qkv, b, t, h, pads)));
  const refOut = tf.tidy(() => real(maskedAttention(qkv, b, t, h, pads)));
  const typedGrad = tf.grad(loss((x) => causalAttention(x, b, t, h, pads)))(qkv);
  const refGrad = tf.grad(loss((x) => maskedAttention(x, b, t, h, pads)))(qkv);
  assertArrayAlmostEquals(typedOut.dataSync(), refOut.dataSync(), 1e-5);
  const scale = Math.max(...refGrad.dataSync().map(Math.abs));
  assertArrayAlmostEquals(typedGrad.dataSync(), refGrad.dataSync(), 1e-5 * scale);
  tf.dispose([typedOut, refOut, typedGrad, refGrad]);
  assertEquals(tf.memory().numTensors, before);
  tf.dispose([qkv, weights]);
}

for (const backend of TEST_BACKENDS) {
  for (const simd of [true, false]) {
    Deno.test(
      `causalAttention matches masked-softmax attention and its gradient (${backend}, ${
        simd ? "SIMD where the head width allows" : "JS loops"
      })`,
      async () => {
        await initBackend({ backend });
        const previous = setSimdKernels(simd);
        try {
          // Deno's V8 has WebAssembly SIMD: the SIMD variant must really run it.
          assertEquals(simdKernelsAvailable(), simd);
          // Odd length; head widths 5 (remainder paths, never SIMD), 8, 4 and 20 (one or more
          // f32x4 lanes, with and without a whole 64-byte block).
          compareWithMasked([4, 11, 2, 10], [0, 3, 10, 6]);
          compareWithMasked([4, 11, 2, 16], [0, 3, 10, 6]);
          compareWithMasked([2, 9, 1, 4], [0, 4]);
          compareWithMasked([2, 9, 1, 20], [0, 4]);
        } finally {
          setSimdKernels(previous);
        }
      },
    );
  }
}

Deno.test("setTypedKernels returns the previous mode", () => {
  assertEquals(setTypedKernels("off"), "auto");
  assertEquals(useTypedKernels(), false);
  assertEquals(setTypedKernels("auto"), "off");
});
