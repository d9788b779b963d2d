/**
 * How far a server's log-probs are from the trainer's on the tokens it sampled.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the sampler log-prob gap";

/**
 * The masked mean and max of `|log π_old(w_t | …) − log μ(w_t | …)|` over the sampled tokens,
 * where μ is the sampler (an inference server) and π_old the local policy that is trained: 0 when
 * both run the same weights with the same arithmetic. Kernels, precision (bf16 on a GPU server)
 * or a stale adapter make it grow; TRL logs the same numbers as
 * `sampling/sampling_logp_difference/{mean,max}`. Both are 0 when no token is valid.
 *
 * Used by every recipe when it samples through a remote sampler (metrics
 * `sampler/logprob_gap_mean` and `sampler/logprob_gap_max`).
 *
 * @param oldLogProbs log π_old of the sampled tokens, float32 `[B, T]`.
 * @param samplerLogProbs log μ of the same tokens, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns `[2]`: the mean and the max gap (the caller reads and disposes it).
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { samplerLogProbGap } from "./sampler_gap.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const old = tf.tensor2d([[-1, -2, -5]]);
 * const server = tf.tensor2d([[-1.5, -1.9, 0]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * const [mean, max] = await samplerLogProbGap(old, server, mask).data();
 * assertAlmostEquals(mean, (0.5 + 0.1) / 2, 1e-6);
 * assertAlmostEquals(max, 0.5, 1e-6);
 * tf.dispose([old, server, mask]);
 * ```
 */
export function samplerLogProbGap(
  oldLogProbs: tf.Tensor2D,
  samplerLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
): tf.Tensor1D {
  checkRank(CONTEXT, "oldLogProbs", oldLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "samplerLogProbs", samplerLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "oldLogProbs", oldLogProbs, "samplerLogProbs", samplerLogProbs);
  checkSameShape(CONTEXT, "oldLogProbs", oldLogProbs, "mask", mask);
  return tf.tidy(() => {
    const gap = tf.mul(tf.abs(tf.sub(oldLogProbs, samplerLogProbs)), mask);
    const mean = tf.div(tf.sum(gap), tf.maximum(tf.sum(mask), 1));
    return tf.stack([mean, tf.max(gap)]) as tf.Tensor1D;
  });
}
