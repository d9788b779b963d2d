/**
 * The one place where per-token losses are reduced to a scalar. GRPO, Dr. GRPO and DAPO differ
 * only in the `mode` chosen here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkMask, checkNumber, checkOneOf, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot aggregate the loss";

/** How {@linkcode aggregateLoss} reduces a `[B, T]` loss. */
export type AggregationMode =
  | "token-mean"
  | "sequence-mean"
  | "sequence-sum"
  | "token-sum"
  | "constant";

/** The valid values of {@linkcode AggregationMode}, in order. */
export const AGGREGATION_MODES: readonly AggregationMode[] = [
  "token-mean",
  "sequence-mean",
  "sequence-sum",
  "token-sum",
  "constant",
];

/**
 * The count `aggregateLoss` divides by when it is given no normalizer, as a scalar:
 * `max(Σ_bt m_bt, 1)` for `"token-mean"`, `max(|S|, 1)` (the sequences with a valid token) for
 * `"sequence-mean"` and `"sequence-sum"`, and `undefined` for `"token-sum"` (no division) and
 * `"constant"` (its denominator is a given normalizer, never a count).
 *
 * Gradient accumulation needs it: a minibatch cut into micro-batches is reduced exactly as a whole
 * when each micro-batch's loss is given the whole minibatch's count as its `normalizer`, since
 * every mode is then a sum over tokens or sequences divided by one number.
 *
 * Used by: {@linkcode aggregateLoss}, and every update that accumulates micro-batches.
 *
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @param mode The reduction; default `"token-mean"`.
 * @returns A float32 scalar ≥ 1, or `undefined` for the modes that count nothing.
 * @throws {TypeError} When `mask` is not a float32 `[B, T]` tensor.
 * @throws {RangeError} For an unknown mode.
 *
 * @example Tokens for the token mean, non-empty sequences for the sequence modes
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { aggregationCount } from "./aggregate.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const mask = tf.tensor2d([[1, 1, 1], [0, 0, 0], [1, 0, 0]]);
 * const tokens = aggregationCount(mask, "token-mean")!;
 * const sequences = aggregationCount(mask, "sequence-sum")!;
 * assertEquals([(await tokens.data())[0], (await sequences.data())[0]], [4, 2]);
 * assertEquals(aggregationCount(mask, "token-sum"), undefined);
 * tf.dispose([mask, tokens, sequences]);
 * ```
 */
export function aggregationCount(
  mask: tf.Tensor2D,
  mode: AggregationMode = "token-mean",
): tf.Scalar | undefined {
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkOneOf(CONTEXT, "mode", mode, AGGREGATION_MODES);
  switch (mode) {
    case "token-sum":
    case "constant":
      return undefined;
    case "token-mean":
      // Σm counts tokens, so max(Σm, 1) only changes the all-masked case, where Σℓm = 0.
      return tf.tidy(() => tf.maximum(tf.sum(mask), 1));
    case "sequence-mean":
    case "sequence-sum":
      // Empty rows contribute 0 to the sum and are not counted.
      return tf.tidy(() => tf.maximum(tf.sum(tf.minimum(tf.sum(mask, 1), 1)), 1));
  }
}

/** Options of {@linkcode aggregateLoss}. */
export interface AggregateLossOptions {
  /** The reduction; default `"token-mean"`. */
  mode?: AggregationMode;
  /**
   * A fixed denominator (a positive number). Required by `"constant"` (Dr. GRPO: `B × max
   * response length`). With `"token-mean"` it replaces `Σm` (pass the token count of the whole
   * batch when a batch is split into micro-batches, so that the micro-batch losses sum to the
   * full-batch loss: gradient accumulation, see {@linkcode aggregationCount}); with the sequence
   * modes it replaces the number of non-empty sequences in the same way. Not accepted by
   * `"token-sum"`, whose micro-batch losses sum to the whole batch's as they are.
   */
  normalizer?: number;
}

/**
 * Reduce a per-token loss `ℓ [B, T]` over the valid tokens of `mask [B, T]` to a scalar.
 * With `n_b = Σ_t m_bt` and `S` the set of sequences with `n_b > 0`:
 *
 * - `"token-mean"` (default): `Σ_bt ℓ_bt m_bt / Σ_bt m_bt` — every token weighs the same (DAPO);
 * - `"sequence-mean"`: `(1/|S|) Σ_{b∈S} (Σ_t ℓ_bt m_bt / n_b)` — every sequence weighs the same,
 *   so tokens of long responses weigh less (the original GRPO);
 * - `"sequence-sum"`: `(1/|S|) Σ_{b∈S} Σ_t ℓ_bt m_bt`;
 * - `"token-sum"`: `Σ_bt ℓ_bt m_bt`;
 * - `"constant"`: `Σ_bt ℓ_bt m_bt / normalizer` — a length-independent constant (Dr. GRPO,
 *   `normalizer = B × max response length`), which keeps the per-token weight of Theorem 1's
 *   estimator the same for every response.
 *
 * Masked positions are selected away (not multiplied by 0), so a NaN or ±∞ there does not reach
 * the result. Fully masked sequences are left out of the sequence modes. When every token is
 * masked, every mode returns 0 (never NaN), so an empty minibatch contributes nothing.
 *
 * @see https://arxiv.org/abs/2506.02553 (the estimators are sums over tokens; the reduction only
 *   rescales them)
 *
 * Used by: every algorithm, for the policy, KL, value and entropy terms.
 *
 * Preconditions: `loss` and `mask` float32 with the same shape `[B, T]`; `mask` exactly 0/1;
 * `normalizer` a finite number > 0 when given.
 *
 * @param loss Per-token loss, float32 `[B, T]`; differentiable.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @param options The mode and the optional fixed denominator.
 * @returns A float32 scalar.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor, the shapes differ, or
 *   `normalizer` is not a finite number.
 * @throws {RangeError} For a mask entry other than 0/1, an unknown mode (the message lists the
 *   valid ones), a `normalizer ≤ 0`, `"constant"` without a normalizer, or a normalizer with
 *   `"token-sum"`.
 *
 * @example Every mode on one batch
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   AGGREGATION_MODES,
 *   aggregateLoss,
 *   type AggregateLossOptions,
 *   type AggregationMode,
 * } from "./aggregate.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const loss = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
 * const mask = tf.tensor2d([[1, 1, 1], [1, 0, 0]]);
 * // valid tokens: row 0 → 1 + 2 + 3 = 6 (3 tokens), row 1 → 4 (1 token); Σℓm = 10, Σm = 4
 * const expected: Record<AggregationMode, number> = {
 *   "token-mean": 10 / 4,
 *   "sequence-mean": (6 / 3 + 4 / 1) / 2,
 *   "sequence-sum": (6 + 4) / 2,
 *   "token-sum": 10,
 *   "constant": 10 / (2 * 3), // Dr. GRPO: B × max response length
 * };
 * for (const mode of AGGREGATION_MODES) {
 *   const options: AggregateLossOptions = mode === "constant" ? { mode, normalizer: 6 } : { mode };
 *   const value = aggregateLoss(loss, mask, options);
 *   assertAlmostEquals((await value.data())[0], expected[mode], 1e-6);
 *   value.dispose();
 * }
 * tf.dispose([loss, mask]);
 * ```
 */
export function aggregateLoss(
  loss: tf.Tensor2D,
  mask: tf.Tensor2D,
  options: AggregateLossOptions = {},
): tf.Scalar {
  checkRank(CONTEXT, "loss", loss, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "loss", loss, "mask", mask);
  const mode = checkOneOf(CONTEXT, "mode", options?.mode ?? "token-mean", AGGREGATION_MODES);
  const normalizer = options?.normalizer === undefined
    ? undefined
    : checkNumber(CONTEXT, "normalizer", options.normalizer, { min: 0, exclusiveMin: true });
  if (mode === "constant" && normalizer === undefined) {
    throw new RangeError(
      `${CONTEXT}: mode "constant" requires a positive normalizer, got undefined`,
    );
  }
  if (mode === "token-sum" && normalizer !== undefined) {
    throw new RangeError(
      `${CONTEXT}: mode "token-sum" takes no normalizer, got ${normalizer}`,
    );
  }
  checkMask(CONTEXT, "mask", mask);
  return tf.tidy(() => {
    const valid = tf.greater(mask, 0);
    const masked = tf.where(valid, loss, tf.zerosLike(loss));
    switch (mode) {
      case "token-sum":
        return tf.sum(masked);
      case "token-mean":
      case "constant":
        return tf.div(tf.sum(masked), normalizer ?? aggregationCount(mask, mode)!);
      case "sequence-mean":
      case "sequence-sum": {
        let rowLoss = tf.sum(masked, 1);
        if (mode === "sequence-mean") rowLoss = tf.div(rowLoss, tf.maximum(tf.sum(mask, 1), 1));
        return tf.div(tf.sum(rowLoss), normalizer ?? aggregationCount(mask, mode)!);
      }
    }
  });
}
