import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals, assertEquals, assertNotEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { dense } from "../../lib/models/dense.ts";
import {
  setTransposedWeightBudget,
  transposedWeightStats,
  withTransposedWeights,
} from "../../lib/models/transposed_weights.ts";

Deno.test("dense: the wasm path (explicit transpose) equals x·Wᵀ + b, gradients too", async () => {
  await initBackend({ backend: "wasm" });
  const x = tf.randomNormal([5, 7], 0, 1, "float32", 1) as tf.Tensor2D;
  const w = tf.randomNormal([3, 7], 0, 1, "float32", 2) as tf.Tensor2D;
  const b = tf.tensor1d([0.5, -1, 2]);
  const f = (x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(dense(x as tf.Tensor2D, w, b)));
  const g = (x: tf.Tensor, w: tf.Tensor) =>
    tf.sum(tf.square(tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true), b)));
  assertArrayAlmostEquals(
    await dense(x, w, b).data(),
    await tf.add(tf.matMul(x, w, false, true), b).data(),
    1e-5,
  );
  const [gx, gw] = tf.grads(f)([x, w]);
  const [hx, hw] = tf.grads(g)([x, w]);
  assertArrayAlmostEquals(await gx.data(), await hx.data(), 1e-4);
  assertArrayAlmostEquals(await gw.data(), await hw.data(), 1e-4);
  tf.dispose([x, w, b, gx, gw, hx, hw]);
  await initBackend({ backend: "cpu" });
});

Deno.test("dense: the cached transpose equals tf.matMul(x, w, false, true), after an Adam update too", async () => {
  await initBackend({ backend: "wasm" });
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([4, 6], 0, 1, "float32", 3) as tf.Tensor2D;
  const init = tf.randomNormal([5, 6], 0, 1, "float32", 4) as tf.Tensor2D;
  const w = tf.variable(init);
  init.dispose();
  const b = tf.tensor1d([0.5, -1, 2, 0, 1]);
  const reference = async () => {
    const y = tf.tidy(() => tf.add(tf.matMul(x, w, false, true), b));
    const values = await y.data();
    y.dispose();
    return values;
  };
  const optimizer = tf.train.adam(0.1);
  let inside = 0;
  await withTransposedWeights(async () => {
    const y = dense(x, w, b);
    assertEquals(transposedWeightStats().entries, 1);
    assertArrayAlmostEquals(await y.data(), await reference(), 1e-5);
    y.dispose();
    const again = dense(x, w, b); // a hit: the same entry
    assertEquals(transposedWeightStats().entries, 1);
    assertArrayAlmostEquals(await again.data(), await reference(), 1e-5);
    again.dispose();
    // Under the tape (inside the open scope) the gradient still reaches w.
    const loss = () => tf.sum(tf.square(dense(x, w, b))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, [w]);
    value.dispose();
    const expected = tf.grad((v: tf.Tensor) =>
      tf.sum(tf.square(tf.add(tf.matMul(x, v as tf.Tensor2D, false, true), b)))
    )(w);
    assertArrayAlmostEquals(await grads[w.name].data(), await expected.data(), 1e-4);
    const old = await w.data();
    optimizer.applyGradients([{ name: w.name, tensor: grads[w.name] }]);
    tf.dispose([grads[w.name], expected]);
    // After the update the entry is stale (new dataId) and is rebuilt from the new values.
    const updated = dense(x, w, b);
    assertNotEquals(Array.from(await w.data()), Array.from(old));
    assertArrayAlmostEquals(await updated.data(), await reference(), 1e-5);
    assertEquals(transposedWeightStats().entries, 1);
    updated.dispose();
    inside = tf.memory().numTensors;
  });
  assertEquals(transposedWeightStats(), { scopes: 0, entries: 0, bytes: 0 });
  assertEquals(tf.memory().numTensors, inside - 1); // the one entry, disposed with the scope
  optimizer.dispose();
  tf.dispose([x, w, b]);
  assertEquals(tf.memory().numTensors <= before + 4, true); // what Adam keeps of its state
  await initBackend({ backend: "cpu" });
});

Deno.test("dense: the transposed-weight cache respects its budget and drops disposed weights", async () => {
  await initBackend({ backend: "wasm" });
  const before = tf.memory().numTensors;
  const x = tf.ones([2, 3]) as tf.Tensor2D;
  const inits = [tf.tensor2d([[1, 2, 3], [4, 5, 6]]), tf.tensor2d([[1, 0, 0], [0, 1, 0]])];
  const [w, v] = inits.map((t) => tf.variable(t, false));
  tf.dispose(inits);
  const read = async (y: tf.Tensor) => {
    const values = await y.array();
    y.dispose();
    return values;
  };
  // One 2 × 3 weight's entry: its copy and XNNPACK's packed copy, 2 · 6 float32.
  const previous = setTransposedWeightBudget(2 * 6 * 4);
  try {
    await withTransposedWeights(async () => {
      assertEquals(await read(dense(x, w)), [[6, 15], [6, 15]]);
      assertEquals(await read(dense(x, v)), [[1, 1], [1, 1]]); // over budget: not cached
      assertEquals(transposedWeightStats().entries, 1);
      w.dispose();
      assertEquals(await read(dense(x, v)), [[1, 1], [1, 1]]); // w's entry dropped, v cached
      assertEquals(transposedWeightStats(), { scopes: 1, entries: 1, bytes: 48 });
    });
  } finally {
    setTransposedWeightBudget(previous);
  }
  tf.dispose([x, v]);
  assertEquals(tf.memory().numTensors, before);
  await initBackend({ backend: "cpu" });
});
