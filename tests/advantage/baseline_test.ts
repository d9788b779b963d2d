import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { baselineAdvantages } from "../../lib/advantage/baseline.ts";
import { assertArrayAlmostEquals, assertThrows } from "@std/assert";
import { assertNoTensorsOnThrow, expectTensorCount, randomNormals } from "./_helpers.ts";

await initBackend({ backend: "cpu" });

async function run(rewards: number[], baselines: number[]): Promise<Float32Array> {
  const r = tf.tensor1d(rewards);
  const b = tf.tensor1d(baselines);
  const out = expectTensorCount(() => baselineAdvantages(r, b), 1);
  const data = await out.data() as Float32Array;
  tf.dispose([r, b, out]);
  return data;
}

Deno.test("matches hand-computed values", async () => {
  // ReMax: two prompts × two samples; greedy rewards 0.5 and 1.
  // [1 − 0.5, 0 − 0.5, 1 − 1, 0.25 − 1] = [0.5, −0.5, 0, −0.75]
  assertArrayAlmostEquals(await run([1, 0, 1, 0.25], [0.5, 0.5, 1, 1]), [0.5, -0.5, 0, -0.75], 0);
});

Deno.test("matches a scalar-loop reference on random inputs", async () => {
  const rng = new Random(9);
  for (const n of [1, 5, 64]) {
    const rewards = Array.from(new Float32Array(randomNormals(rng, n)));
    const baselines = Array.from(new Float32Array(randomNormals(rng, n)));
    const expected: number[] = [];
    for (let i = 0; i < n; i++) expected.push(rewards[i] - baselines[i]);
    assertArrayAlmostEquals(await run(rewards, baselines), expected, 1e-6);
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute baseline advantages";
  const r = tf.tensor1d([1, 2, 3]);
  const b4 = tf.tensor1d([1, 2, 3, 4]);
  const nan = tf.tensor1d([0, NaN, 1]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => baselineAdvantages(r, b4),
      TypeError,
      `${context}: rewards and baselines must have the same shape, got rewards [3] and baselines [4]`,
    ],
    [
      () => baselineAdvantages(r, nan),
      RangeError,
      `${context}: baselines must be finite, got NaN at index 1`,
    ],
    [() => baselineAdvantages(nan, r), RangeError, "rewards must be finite, got NaN at index 1"],
    [
      () => baselineAdvantages(r, undefined as unknown as tf.Tensor1D),
      TypeError,
      "baselines must be a tf.Tensor, got undefined",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([r, b4, nan]);
});
