/**
 * Per-token values of a rollout under a value model (PPO's critic).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ValueModel } from "../policy/value_model.ts";
import { weight } from "../policy/layers.ts";
import type { Rollout } from "./rollout.ts";
import { responseHidden } from "./teacher_forcing.ts";

/**
 * The value of every prefix before a response token, teacher-forced in one forward pass:
 * column t is `V(prompt ⊕ y_0 … y_{t−1})` (column 0 is the prompt's value), 0 at masked positions.
 *
 * Differentiable with respect to the value model's weights (call it inside `tf.variableGrads`
 * for the value loss).
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 — the baseline `E_{W^(t)}[RM]` a critic estimates.
 * Used by PPO (GAE and the value loss).
 *
 * @param valueModel The value model.
 * @param rollout The responses: `tokens` int32 `[B, T]`, `mask` `[B, T]`, `B` prompts.
 * @returns Values float32 `[B, T]`.
 * @throws {TypeError} When the rollout's tensors have wrong shapes or dtypes.
 *
 * @example
 * ```ts
 * import { tokenValues } from "./token_values.ts";
 * import { createValueModel } from "../policy/value_model.ts";
 * import { initBackend } from "../backend.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const critic = createValueModel({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * const rollout = {
 *   promptTokens: [[1, 2]], groupSize: 1, lengths: [2],
 *   tokens: tf.tensor2d([[3, 0, 0]], [1, 3], "int32"),
 *   mask: tf.tensor2d([[1, 1, 0]]),
 *   logProbs: tf.zeros([1, 3]) as tf.Tensor2D,
 * };
 * const values = tokenValues(critic, rollout);
 * assertEquals(values.shape, [1, 3]);
 * tf.dispose([values, rollout.tokens, rollout.mask, rollout.logProbs]);
 * critic.dispose();
 * ```
 */
export function tokenValues(valueModel: ValueModel, rollout: Rollout): tf.Tensor2D {
  const context = "Cannot compute token values";
  return tf.tidy(() => {
    const { weights, config } = valueModel;
    const { hidden, batch, length } = responseHidden(
      context,
      weights,
      config,
      rollout,
      valueModel.architecture,
    );
    const v = tf.add(
      tf.matMul(hidden, weight(weights, "value.w") as tf.Tensor2D),
      weight(weights, "value.b"),
    );
    return tf.mul(tf.reshape(v, [batch, length]), rollout.mask) as tf.Tensor2D;
  });
}
