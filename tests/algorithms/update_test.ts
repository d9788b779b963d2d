/**
 * The shared optimizer step and the minibatch bookkeeping.
 */
import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { applyUpdate, minibatchPlan } from "../../lib/algorithms/update.ts";
import { samplePrefixPositions } from "../../lib/algorithms/trepo.ts";

await initBackend({ backend: "cpu" });

Deno.test("applyUpdate clips the global gradient norm before applying it", async () => {
  const a = tf.variable(tf.tensor1d([0, 0]));
  const b = tf.variable(tf.scalar(0));
  const sgd = tf.train.sgd(1);
  // loss = 3a₀ + 4a₁ + 12b: gradient (3, 4, 12), norm 13; clipped to norm 1.3.
  const result = await applyUpdate(
    sgd,
    [a, b],
    () => tf.add(tf.sum(tf.mul(a, tf.tensor1d([3, 4]))), tf.mul(b, 12)) as tf.Scalar,
    { maxGradNorm: 1.3, what: "the test weights", step: 1 },
  );
  assertAlmostEquals(result.gradNorm, 13, 1e-5);
  const scale = 1.3 / (13 + 1e-6);
  const av = a.dataSync();
  assertAlmostEquals(av[0], -3 * scale, 1e-6);
  assertAlmostEquals(av[1], -4 * scale, 1e-6);
  assertAlmostEquals(b.dataSync()[0], -12 * scale, 1e-6);
  tf.dispose([a, b]);
  sgd.dispose();
});

Deno.test("applyUpdate refuses a non-finite loss and leaves the weights unchanged", async () => {
  const w = tf.variable(tf.tensor1d([1, 2]));
  const sgd = tf.train.sgd(0.1);
  const before = tf.memory().numTensors;
  await assertRejects(
    () =>
      applyUpdate(sgd, [w], () => tf.sum(tf.div(w, tf.scalar(0))) as tf.Scalar, {
        maxGradNorm: 1,
        what: "the policy",
        step: 7,
      }),
    RangeError,
    "Cannot update the policy at step 7: the loss is Infinity; the weights were left unchanged",
  );
  assertEquals(tf.memory().numTensors, before);
  assertEquals([...w.dataSync()], [1, 2]);
  await assertRejects(
    () =>
      applyUpdate(sgd, [w], () => tf.sum(tf.mul(w, tf.scalar(NaN))) as tf.Scalar, {
        maxGradNorm: 1,
        what: "the policy",
        step: 8,
      }),
    RangeError,
    "Cannot update the policy at step 8: the loss is NaN",
  );
  assertEquals([...w.dataSync()], [1, 2]);
  w.dispose();
  sgd.dispose();
});

Deno.test("minibatchPlan covers every row once per epoch", () => {
  const plan = minibatchPlan(10, 2, 3, new Random(1));
  assertEquals(plan.length, 6);
  for (let e = 0; e < 2; e++) {
    const rows = plan.slice(3 * e, 3 * e + 3).flat().sort((x, y) => x - y);
    assertEquals(rows, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }
  assertEquals(plan.slice(0, 3).map((p) => p.length), [3, 3, 4]);
  // One epoch, one minibatch: the rows in order and no draw from the stream.
  const rng = new Random(2);
  const state = rng.state();
  assertEquals(minibatchPlan(4, 1, 1, rng), [[0, 1, 2, 3]]);
  assertEquals(rng.state(), state);
});

Deno.test("samplePrefixPositions draws distinct interior positions plus 0 and L", () => {
  const rng = new Random(3);
  for (let trial = 0; trial < 50; trial++) {
    const length = 1 + rng.int(12);
    const p = samplePrefixPositions(length, 4, rng);
    assertEquals(p[0], 0);
    assertEquals(p[p.length - 1], length);
    assertEquals(p.length, 2 + Math.min(4, length - 1));
    for (let i = 1; i < p.length; i++) assertEquals(p[i] > p[i - 1], true);
  }
  assertEquals(samplePrefixPositions(1, 4, new Random(0)), [0, 1]);
  // Uniform: over many draws of 1 position from 1..4, each appears about a quarter of the time.
  const counts = [0, 0, 0, 0, 0];
  const r = new Random(9);
  for (let i = 0; i < 4000; i++) counts[samplePrefixPositions(5, 1, r)[1]]++;
  for (let k = 1; k <= 4; k++) assertAlmostEquals(counts[k] / 4000, 0.25, 0.03);
});
