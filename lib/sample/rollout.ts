/**
 * The rollout: a batch of sampled responses with their masks and the sampler's log-probs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkRank, checkSameShape, describe } from "../validate.ts";

/** A batch of sampled responses (the output of `sample` and `greedy`). */
export interface Rollout {
  /** Prompt token ids of each row (B rows; rows of one prompt are contiguous and share it). */
  promptTokens: number[][];
  /** Response tokens int32 [B, T]; after EOS padded with eosToken; T = longest response. */
  tokens: tf.Tensor2D;
  /** float32 0/1 [B, T]; the EOS token is inside the mask; positions after it are 0. */
  mask: tf.Tensor2D;
  /**
   * The "old" log-probs float32 [B, T] (0 at masked positions) every ratio is taken against: the
   * sampler's, or, when the sampler is a server, the local policy's of the same tokens (then the
   * server's are in `samplerLogProbs`).
   */
  logProbs: tf.Tensor2D;
  /**
   * The server's own log-probs float32 [B, T] when the tokens came from other weights than the
   * local policy (a remote sampler): for the sampler-versus-trainer gap and truncated importance
   * sampling. Absent for local sampling.
   */
  samplerLogProbs?: tf.Tensor2D;
  /** Valid response length of each row (includes EOS when present). */
  lengths: number[];
  /** Responses per prompt. */
  groupSize: number;
}

/**
 * Dispose the tensors of a rollout (`tokens`, `mask`, `logProbs`, and `samplerLogProbs`).
 *
 * @param r The rollout; its tensors must not be used afterwards.
 *
 * @example
 * ```ts
 * import { disposeRollout } from "./rollout.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const before = tf.memory().numTensors;
 * const r = {
 *   promptTokens: [[1]], groupSize: 1, lengths: [1],
 *   tokens: tf.tensor2d([[2]], [1, 1], "int32"),
 *   mask: tf.ones([1, 1]) as tf.Tensor2D,
 *   logProbs: tf.zeros([1, 1]) as tf.Tensor2D,
 * };
 * disposeRollout(r);
 * assertEquals(tf.memory().numTensors, before);
 * ```
 */
export function disposeRollout(r: Rollout): void {
  tf.dispose([r.tokens, r.mask, r.logProbs]);
  if (r.samplerLogProbs !== undefined) r.samplerLogProbs.dispose();
}

/**
 * Check the structure of a rollout: `tokens` int32 `[B, T]`, `mask` `[B, T]`, `B` prompts.
 *
 * @param context The failed operation, for error messages.
 * @param r The rollout to check.
 * @returns `[B, T]`.
 */
export function checkRollout(context: string, r: Rollout): [number, number] {
  if (typeof r !== "object" || r === null) {
    throw new TypeError(`${context}: rollout must be a Rollout, got ${describe(r)}`);
  }
  const tokens = checkRank(context, "rollout.tokens", r.tokens, 2, "[B, T]", "int32");
  const mask = checkRank(context, "rollout.mask", r.mask, 2, "[B, T]");
  checkSameShape(context, "rollout.tokens", tokens, "rollout.mask", mask);
  const [batch, length] = tokens.shape;
  if (!Array.isArray(r.promptTokens) || r.promptTokens.length !== batch) {
    throw new TypeError(
      `${context}: rollout.promptTokens must hold one prompt per row (${batch}), got ${
        describe(r.promptTokens)
      }`,
    );
  }
  return [batch, length];
}
