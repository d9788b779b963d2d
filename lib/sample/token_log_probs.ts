/**
 * Teacher-forced log-probabilities of a rollout's response tokens under a policy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import { policyHeadLogProbs } from "../models/lm_head.ts";
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
 * `logπ(y_t | prompt, y_<t) = log softmax(z_t / τ)[y_t]`, 0 at masked positions. The head runs
 * through `headLogProbs` (chunks of rows, its own gradient), so the `[B·T, V]` logits are never
 * held: the head's peak is a few `[R, V]` chunks whatever `T`.
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
  const { logProbs, entropy } = tokenLogProbsAndEntropy(policy, rollout, options);
  entropy.dispose();
  return logProbs;
}

/** What {@linkcode tokenLogProbsAndEntropy} returns. */
export interface TokenLogProbsAndEntropy {
  /** `logπ(y_t | …)`, `[B, T]`, 0 at masked positions (differentiable). */
  logProbs: tf.Tensor2D;
  /** `H(π(· | prompt, y_<t))` at the same temperature, `[B, T]`, 0 at masked positions (a constant). */
  entropy: tf.Tensor2D;
}

/**
 * {@linkcode tokenLogProbs} and the entropy of the policy at every response position, from the
 * same pass through the head (`headLogProbs`: chunks of rows, no `[B·T, V]` tensor). The entropy
 * is a constant (no gradient): a metric.
 *
 * @param policy The policy (or the frozen reference).
 * @param rollout The responses: `tokens` int32 `[B, T]`, `mask` `[B, T]`.
 * @param options The temperature.
 * @returns Log-probs and entropies, float32 `[B, T]` each.
 * @throws {TypeError} When the rollout's tensors have wrong shapes or dtypes.
 * @throws {RangeError} When `temperature ≤ 0` or prompt + response exceed `maxLength`.
 *
 * @example The entropy of a uniform policy is log V
 * ```ts
 * import { tokenLogProbsAndEntropy } from "./token_log_probs.ts";
 * import { sample } from "./sample.ts";
 * import { disposeRollout } from "./rollout.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * policy.weights.get("head")!.assign(policy.weights.get("head")!.mul(0)); // all logits equal
 * const r = await sample(policy, [[1, 2]], { maxTokens: 3, eosToken: 0, seed: 3 });
 * const { logProbs, entropy } = tokenLogProbsAndEntropy(policy, r);
 * assertAlmostEquals((await entropy.data())[0], Math.log(6), 1e-5);
 * assertAlmostEquals((await logProbs.data())[0], -Math.log(6), 1e-5);
 * logProbs.dispose();
 * entropy.dispose();
 * disposeRollout(r);
 * policy.dispose();
 * ```
 */
export function tokenLogProbsAndEntropy(
  policy: Policy,
  rollout: Rollout,
  options: TokenLogProbsOptions = {},
): TokenLogProbsAndEntropy {
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
    const ids = tf.reshape(rollout.tokens, [batch * length]) as tf.Tensor1D;
    const { logProbs, entropy } = policyHeadLogProbs(policy, hidden, ids, temperature);
    const shaped = (x: tf.Tensor1D) =>
      tf.mul(tf.reshape(x, [batch, length]), rollout.mask) as tf.Tensor2D;
    return { logProbs: shaped(logProbs), entropy: shaped(entropy) };
  });
}
