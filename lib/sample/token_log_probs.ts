/**
 * Teacher-forced log-probabilities of a rollout's response tokens under a policy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import { oneHotFloat } from "../policy/layers.ts";
import { policyHead } from "../policy/architecture.ts";
import { checkTemperature } from "./decode.ts";
import type { Rollout } from "./rollout.ts";
import { responseHidden } from "./teacher_forcing.ts";

/** Options of {@linkcode tokenLogProbs}. */
export interface TokenLogProbsOptions {
  /** Softmax temperature the log-probs are taken at, > 0 (default 1; match the sampler's). */
  temperature?: number;
}

/**
 * Log-probability of each response token under the policy, teacher-forced in one forward pass:
 * `logπ(y_t | prompt, y_<t) = log softmax(z_t / τ)[y_t]`, 0 at masked positions.
 *
 * Differentiable with respect to the policy's weights: call it inside `tf.variableGrads` for
 * the policy-gradient and clipped-surrogate losses. Without top-k/top-p and at the same
 * temperature it equals the sampler's `rollout.logProbs` (within float error).
 *
 * @see He et al., arXiv 2506.02553 — the `∇log π(w_t | W[0..t−1])` of Lemma 1 and Theorems 1–2.
 * Used by every algorithm (PPO, GRPO, ReMax, RLOO, TRePO): current, old and reference log-probs.
 *
 * @param policy The policy (or the frozen reference).
 * @param rollout The responses: `tokens` int32 `[B, T]`, `mask` `[B, T]`, `B` prompts.
 * @param options The temperature.
 * @returns Log-probs float32 `[B, T]`.
 * @throws {TypeError} When the rollout's tensors have wrong shapes or dtypes.
 * @throws {RangeError} When `temperature ≤ 0` or prompt + response exceed `maxLength`.
 *
 * @example
 * ```ts
 * import { tokenLogProbs } from "./token_log_probs.ts";
 * import { sample } from "./sample.ts";
 * import { disposeRollout } from "./rollout.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * const r = await sample(policy, [[1, 2], [3]], { maxTokens: 4, eosToken: 0, seed: 3 });
 * const lp = tokenLogProbs(policy, r);
 * assertArrayAlmostEquals(lp.dataSync(), r.logProbs.dataSync(), 1e-4);
 * lp.dispose();
 * disposeRollout(r);
 * policy.dispose();
 * ```
 */
export function tokenLogProbs(
  policy: Policy,
  rollout: Rollout,
  options: TokenLogProbsOptions = {},
): tf.Tensor2D {
  const context = "Cannot compute token log-probs";
  const temperature = checkTemperature(context, options.temperature ?? 1);
  return tf.tidy(() => {
    const { hidden, batch, length } = responseHidden(
      context,
      policy.weights,
      policy.config,
      rollout,
      policy.architecture,
    );
    let logits = policyHead(policy, hidden);
    if (temperature !== 1) logits = tf.div(logits, temperature);
    const logp = tf.logSoftmax(logits);
    const ids = tf.reshape(rollout.tokens, [batch * length]) as tf.Tensor1D;
    const picked = tf.sum(
      tf.mul(logp, oneHotFloat(ids, policy.config.vocabSize)),
      1,
    );
    return tf.mul(tf.reshape(picked, [batch, length]), rollout.mask) as tf.Tensor2D;
  });
}
