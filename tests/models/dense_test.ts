import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { dense } from "../../lib/models/dense.ts";

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
