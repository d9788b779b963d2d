import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { entropyFromLogits } from "../../lib/loss/entropy.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

/** Probabilities of one row of logits, in float64, with the max subtracted. */
function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const z = e.reduce((s, x) => s + x, 0);
  return e.map((x) => x / z);
}

function entropy(row: number[]): number {
  return -softmax(row).reduce((s, p) => s + (p > 0 ? p * Math.log(p) : 0), 0);
}

Deno.test("entropyFromLogits: hand-computed values, stable for large logits", async () => {
  const before = tf.memory().numTensors;
  const logits = tf.tensor3d([[[0, Math.log(3)], [1000, 1000]], [[5, 5], [-1000, 0]]]);
  const h = entropyFromLogits(logits);
  // [0, ln 3] → p = [1/4, 3/4], H = ¼ ln 4 + ¾ ln(4/3) = 0.3465736 + 0.2157616 = 0.5623351
  // [1000, 1000] → uniform → ln 2 (a naive softmax would overflow exp(1000))
  // [5, 5] → ln 2; [−1000, 0] → p = [e^(−1000) ≈ 0, 1] → 0
  assertArrayAlmostEquals(await h.data(), [0.5623351, Math.LN2, Math.LN2, 0], 1e-6);
  assertEquals(h.shape, [2, 2]);
  tf.dispose([logits, h]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("entropyFromLogits: matches a scalar loop on random logits", async () => {
  const rng = new Random(4);
  for (const [b, t, v] of [[1, 1, 1], [2, 3, 5], [4, 6, 17]]) {
    const rows = Array.from(
      { length: b * t },
      () => Array.from({ length: v }, () => Math.fround(3 * rng.normal())),
    );
    const logits = tf.tensor3d(rows.flat(), [b, t, v]);
    const h = entropyFromLogits(logits);
    assertArrayAlmostEquals(await h.data(), rows.map(entropy), 1e-5);
    tf.dispose([logits, h]);
  }
});

Deno.test("entropyFromLogits: gradient is −p(log p + H)", async () => {
  const before = tf.memory().numTensors;
  const rng = new Random(6);
  const rows = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => rng.normal()));
  const logits = tf.tensor3d(rows.flat(), [2, 3, 4]);
  const grad = tf.grad((x: tf.Tensor) => tf.sum(entropyFromLogits(x as tf.Tensor3D)))(logits);
  // ∂H/∂z_k = −p_k(log p_k + H)
  const expected = rows.flatMap((row) => {
    const p = softmax(row);
    const h = entropy(row);
    return p.map((pk) => -pk * (Math.log(pk) + h));
  });
  assertArrayAlmostEquals(await grad.data(), expected, 1e-5);
  tf.dispose([logits, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("entropyFromLogits: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const flat = tf.zeros([2, 3]) as unknown as tf.Tensor3D;
  const empty = tf.zeros([2, 3, 0]) as tf.Tensor3D;
  const ints = tf.zeros([1, 1, 2], "int32") as tf.Tensor3D;
  assertThrows(
    () => entropyFromLogits(flat),
    TypeError,
    "Cannot compute the entropy: logits must have shape [B, T, V] (rank 3), got shape [2, 3]",
  );
  assertThrows(
    () => entropyFromLogits(empty),
    RangeError,
    "Cannot compute the entropy: logits must have a vocabulary axis of size at least 1, got shape [2, 3, 0]",
  );
  assertThrows(
    () => entropyFromLogits(ints),
    TypeError,
    "Cannot compute the entropy: logits must have dtype float32, got int32",
  );
  tf.dispose([flat, empty, ints]);
  assertEquals(tf.memory().numTensors, before);
});
