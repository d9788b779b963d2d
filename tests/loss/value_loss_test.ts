import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { valueLoss } from "../../lib/loss/value_loss.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number, scale = 1): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(scale * rng.normal())),
  );
}

function reference(v: number[][], old: number[][], r: number[][], clip?: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    for (let j = 0; j < v[i].length; j++) {
      const plain = (v[i][j] - r[i][j]) ** 2;
      if (clip === undefined) {
        out.push(0.5 * plain);
        continue;
      }
      const moved = Math.min(Math.max(v[i][j] - old[i][j], -clip), clip);
      out.push(0.5 * Math.max(plain, (old[i][j] + moved - r[i][j]) ** 2));
    }
  }
  return out;
}

Deno.test("valueLoss: hand-computed, with and without clip", async () => {
  const before = tf.memory().numTensors;
  const values = tf.tensor2d([[1.5, 0.5, 3, -1]]);
  const oldValues = tf.tensor2d([[1, 1, 1, -1]]);
  const returns = tf.tensor2d([[2, 0, 0, 1]]);
  const plain = valueLoss({ values, returns });
  // ½(v − R)²: ½(−0.5)² = 0.125; ½(0.5)² = 0.125; ½(3)² = 4.5; ½(−2)² = 2
  assertArrayAlmostEquals(await plain.data(), [0.125, 0.125, 4.5, 2], 1e-6);
  const clipped = valueLoss({ values, oldValues, returns }, { clip: 0.2 });
  // v_clip = old + clamp(v − old, ±0.2) = [1.2, 0.8, 1.2, −1]
  // (v_clip − R)² = [0.64, 0.64, 1.44, 4]; max with (v − R)² = [0.25, 0.25, 9, 4]
  // → ½·[0.64, 0.64, 9, 4] = [0.32, 0.32, 4.5, 2]
  assertArrayAlmostEquals(await clipped.data(), [0.32, 0.32, 4.5, 2], 1e-6);
  tf.dispose([values, oldValues, returns, plain, clipped]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("valueLoss: matches a scalar loop on random batches", async () => {
  const rng = new Random(31);
  for (const [b, t] of [[1, 1], [3, 6], [5, 10]]) {
    for (const clip of [undefined, 0.1, 0.5]) {
      const v = randomMatrix(rng, b, t);
      const old = v.map((row) => row.map((x) => Math.fround(x + 0.3 * rng.normal())));
      const r = randomMatrix(rng, b, t);
      const values = tf.tensor2d(v);
      const oldValues = tf.tensor2d(old);
      const returns = tf.tensor2d(r);
      const loss = valueLoss({ values, oldValues, returns }, { clip });
      assertArrayAlmostEquals(await loss.data(), reference(v, old, r, clip), 1e-5);
      tf.dispose([values, oldValues, returns, loss]);
    }
  }
});

Deno.test("valueLoss: the unclipped gradient is v − R; clipped-active tokens get 0", async () => {
  const before = tf.memory().numTensors;
  const values = tf.tensor2d([[1.5, 0.5, 3]]);
  const oldValues = tf.tensor2d([[1, 1, 1]]);
  const returns = tf.tensor2d([[2, 0, 0]]);
  const plainGrad = tf.grad((v: tf.Tensor) =>
    tf.sum(valueLoss({ values: v as tf.Tensor2D, returns }))
  )(
    values,
  );
  assertArrayAlmostEquals(await plainGrad.data(), [-0.5, 0.5, 3], 1e-6);
  const clipGrad = tf.grad((v: tf.Tensor) =>
    tf.sum(valueLoss({ values: v as tf.Tensor2D, oldValues, returns }, { clip: 0.2 }))
  )(values);
  // tokens 0 and 1: the clipped error is larger and constant in v → 0; token 2: v − R = 3
  assertArrayAlmostEquals(await clipGrad.data(), [0, 0, 3], 1e-6);
  tf.dispose([values, oldValues, returns, plainGrad, clipGrad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("valueLoss: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the value loss: ";
  const a = tf.zeros([2, 3]) as tf.Tensor2D;
  const b = tf.zeros([2, 2]) as tf.Tensor2D;
  const nan = tf.tensor2d([[0, 0, NaN], [0, 0, 0]]);
  assertThrows(
    () => valueLoss({ values: a, returns: b }),
    TypeError,
    context + "values and returns must have the same shape, got values [2, 3] and returns [2, 2]",
  );
  assertThrows(
    () => valueLoss({ values: a, oldValues: b, returns: a }),
    TypeError,
    context +
      "values and oldValues must have the same shape, got values [2, 3] and oldValues [2, 2]",
  );
  assertThrows(
    () => valueLoss({ values: a, returns: a }, { clip: 0.2 }),
    TypeError,
    context + "oldValues is required when clip is given, got undefined",
  );
  assertThrows(
    () => valueLoss({ values: a, oldValues: a, returns: a }, { clip: 0 }),
    RangeError,
    context + "clip must be greater than 0, got 0",
  );
  assertThrows(
    () => valueLoss({ values: a, returns: nan }),
    RangeError,
    context + "returns must be finite, got NaN at index 2",
  );
  assertThrows(
    () => valueLoss({ values: a, oldValues: nan, returns: a }, { clip: 1 }),
    RangeError,
    context + "oldValues must be finite, got NaN at index 2",
  );
  tf.dispose([a, b, nan]);
  assertEquals(tf.memory().numTensors, before);
});
