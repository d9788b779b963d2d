import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { whiten, type WhitenOptions } from "../../lib/advantage/whiten.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import {
  assertNoTensorsOnThrow,
  expectTensorCount,
  randomMask,
  randomNormals,
  SHAPES,
} from "./_helpers.ts";

await initBackend({ backend: "cpu" });

/** Plain scalar-loop reference in float64. */
function reference(
  x: number[],
  mask: number[],
  { ddof = 1, epsilon = 1e-8, shiftMean = true }: WhitenOptions,
): number[] {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    if (mask[i] === 1) {
      n++;
      sum += x[i];
    }
  }
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < x.length; i++) if (mask[i] === 1) squares += (x[i] - mean) ** 2;
  const std = Math.sqrt(squares / (n - ddof) + epsilon);
  return x.map((v, i) => mask[i] === 1 ? (v - mean) / std + (shiftMean ? 0 : mean) : 0);
}

async function run(
  x: number[][],
  mask: number[][],
  options?: WhitenOptions,
): Promise<Float32Array> {
  const xt = tf.tensor2d(x);
  const mt = tf.tensor2d(mask);
  const out = expectTensorCount(() => whiten(xt, mt, options), 1);
  const data = await out.data() as Float32Array;
  tf.dispose([xt, mt, out]);
  return data;
}

Deno.test("matches hand-computed values", async () => {
  // Valid entries 1, 2, 4, 5 (the masked 3 and 100 are left out): n = 4, μ = 3,
  // deviations [−2, −1, 1, 2], Σd² = 10.
  //   ddof 1: σ = √(10/3) = 1.8257419 → d/σ = [−1.0954451, −0.5477226, 0.5477226, 1.0954451]
  //   ddof 0: σ = √(10/4) = 1.5811388 → d/σ = [−1.2649111, −0.6324555, 0.6324555, 1.2649111]
  //   shiftMean false (TRL/verl: the mean put back), d/σ + μ:
  //     ddof 1: [1.9045549, 2.4522774, 3.5477226, 4.0954451]
  //     ddof 0: [1.7350889, 2.3675445, 3.6324555, 4.2649111]
  // The masked positions stay exactly 0 in every mode.
  const x = [[1, 2, 4], [3, 5, 100]];
  const mask = [[1, 1, 1], [0, 1, 0]];
  assertArrayAlmostEquals(
    await run(x, mask, { epsilon: 0 }),
    [-1.0954451, -0.5477226, 0.5477226, 0, 1.0954451, 0],
    1e-6,
  );
  assertArrayAlmostEquals(
    await run(x, mask, { epsilon: 0, ddof: 0 }),
    [-1.2649111, -0.6324555, 0.6324555, 0, 1.2649111, 0],
    1e-6,
  );
  assertArrayAlmostEquals(
    await run(x, mask, { epsilon: 0, shiftMean: false }),
    [1.9045549, 2.4522774, 3.5477226, 0, 4.0954451, 0],
    1e-6,
  );
  assertArrayAlmostEquals(
    await run(x, mask, { epsilon: 0, ddof: 0, shiftMean: false }),
    [1.7350889, 2.3675445, 3.6324555, 0, 4.2649111, 0],
    1e-6,
  );
  // The JSDoc's example, full mask: x = [1, 2, 3, 6], μ = 3, σ² = 14/3 (ddof 1).
  //   shiftMean true:  (x − μ)/σ = [−0.9258201, −0.4629100, 0, 1.3887301]
  //   shiftMean false: + μ       = [2.0741799, 2.5370900, 3, 4.3887301]
  assertArrayAlmostEquals(
    await run([[1, 2, 3, 6]], [[1, 1, 1, 1]], { epsilon: 0 }),
    [-0.9258201, -0.4629100, 0, 1.3887301],
    1e-6,
  );
  assertArrayAlmostEquals(
    await run([[1, 2, 3, 6]], [[1, 1, 1, 1]], { epsilon: 0, shiftMean: false }),
    [2.0741799, 2.5370900, 3, 4.3887301],
    1e-6,
  );
  // ε enters under the root: x = [0, 2], μ = 1, σ² (ddof 1) = 2, ε = 2 → d/√4 = [−0.5, 0.5].
  assertArrayAlmostEquals(await run([[0, 2]], [[1, 1]], { epsilon: 2 }), [-0.5, 0.5], 1e-7);
});

Deno.test("matches a scalar-loop reference on random masked batches; valid entries get mean 0 (or their mean with shiftMean false), std 1", async () => {
  const rng = new Random(6);
  for (const [rows, columns] of SHAPES.filter(([b, t]) => b * t >= 6)) {
    for (const options of [{}, { ddof: 0 as const }, { shiftMean: false }, { epsilon: 0.5 }]) {
      const x = Array.from(new Float32Array(randomNormals(rng, rows * columns, 3)));
      let { mask } = randomMask(rng, rows, columns, { prefix: false });
      if (mask.reduce((s, v) => s + v, 0) < 2) mask = mask.map(() => 1);
      const xt = tf.tensor2d(x, [rows, columns]);
      const mt = tf.tensor2d(mask, [rows, columns]);
      const out = expectTensorCount(() => whiten(xt, mt, options), 1);
      const data = await out.data();
      assertArrayAlmostEquals(data, reference(x, mask, options), 1e-5, JSON.stringify(options));
      if (Object.keys(options).length === 0 || "shiftMean" in options) {
        // Default: mean 0; shiftMean false: the input's mean is kept. Unbiased variance 1 both ways.
        const valid = Array.from(data).filter((_, i) => mask[i] === 1);
        const inputs = x.filter((_, i) => mask[i] === 1);
        const expectedMean = "shiftMean" in options
          ? inputs.reduce((s, v) => s + v, 0) / inputs.length
          : 0;
        const mean = valid.reduce((s, v) => s + v, 0) / valid.length;
        const variance = valid.reduce((s, v) => s + (v - mean) ** 2, 0) / (valid.length - 1);
        assertAlmostEquals(mean, expectedMean, 1e-5);
        assertAlmostEquals(variance, 1, 1e-4);
      }
      tf.dispose([xt, mt, out]);
    }
  }
});

Deno.test("masked positions are exactly 0, with and without the mean put back", async () => {
  for (const shiftMean of [true, false]) {
    const out = await run([[5, -7, 9], [1, 2, 3]], [[0, 1, 0], [1, 0, 1]], { shiftMean });
    assertEquals([out[0], out[2], out[4]], [0, 0, 0]);
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot whiten values";
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const m = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
  const one = tf.tensor2d([[0, 1, 0], [0, 0, 0]]);
  const none = tf.zeros([2, 3]) as tf.Tensor2D;
  const xT = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const inf = tf.tensor2d([[1, 2, 3], [4, 5, Infinity]]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => whiten(x, xT),
      TypeError,
      `${context}: x and mask must have the same shape, got x [2, 3] and mask [3, 2]`,
    ],
    [() => whiten(inf, m), RangeError, "x must be finite, got Infinity at index 5"],
    [
      () => whiten(x, one),
      RangeError,
      "mask must have at least 2 valid entries with ddof 1, got 1",
    ],
    [
      () => whiten(x, none, { ddof: 0 }),
      RangeError,
      "mask must have at least 1 valid entries with ddof 0, got 0",
    ],
    [() => whiten(x, m, { ddof: 3 as 1 }), RangeError, "ddof must be 0 or 1, got 3"],
    [() => whiten(x, m, { epsilon: -1e-3 }), RangeError, "epsilon must be at least 0, got -0.001"],
    [
      () => whiten(x, m, { shiftMean: "no" as unknown as boolean }),
      TypeError,
      "shiftMean must be a boolean, got string",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([x, m, one, none, xT, inf]);
});
