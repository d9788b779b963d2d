/**
 * Baseline advantages: a response's reward minus a given per-response baseline (ReMax).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkRank, checkSameShape } from "../validate.ts";

/**
 * Advantages against an explicit baseline.
 *
 * `Aᵢ = rᵢ − bᵢ`
 *
 * Any baseline that depends only on the prompt (here: one number per response, equal within a
 * prompt) leaves the policy gradient unbiased (Lemma 2 of the paper). ReMax uses the reward of the
 * prompt's greedy response.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Lemma 2 (arXiv 2506.02553).
 *
 * Used by ReMax.
 *
 * Preconditions: `rewards` and `baselines` are float32 of the same shape `[N]` with finite entries.
 *
 * @param rewards Response-level rewards, float32 `[N]`.
 * @param baselines The baseline of each response, float32 `[N]`.
 * @returns Advantages, float32 `[N]`.
 * @throws {TypeError} When an argument is not a float32 tensor of rank 1 or the shapes differ.
 * @throws {RangeError} When a reward or baseline is NaN or infinite.
 *
 * @example Greedy reward as baseline
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { baselineAdvantages } from "./baseline.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([1, 0, 0.5]);
 * const greedy = tf.tensor1d([0.5, 0.5, 0.5]);
 * const advantages = baselineAdvantages(rewards, greedy);
 * assertArrayAlmostEquals(await advantages.data(), [0.5, -0.5, 0]);
 * tf.dispose([rewards, greedy, advantages]);
 * ```
 */
export function baselineAdvantages(rewards: tf.Tensor1D, baselines: tf.Tensor1D): tf.Tensor1D {
  const context = "Cannot compute baseline advantages";
  const r = checkRank(context, "rewards", rewards, 1, "[N]", "float32");
  const b = checkRank(context, "baselines", baselines, 1, "[N]", "float32");
  checkSameShape(context, "rewards", r, "baselines", b);
  checkFinite(context, "rewards", r);
  checkFinite(context, "baselines", b);
  return tf.sub(r, b);
}
