/**
 * Token advantages from values of response prefixes (TRePO, VinePPO-style Monte-Carlo values).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkMask, checkRank, formatShape } from "../validate.ts";

/**
 * Token advantages as differences of consecutive prefix values.
 *
 * `Aₜ = V̂(W[0..t+1]) − V̂(W[0..t])`, i.e. `A[:, t] = prefixValues[:, t+1] − prefixValues[:, t]`,
 * and 0 where `mask` is 0. Column `t` of `prefixValues` holds the value of the prompt followed by
 * the first `t` response tokens, so column 0 is the prompt's value and column `len` (the row's
 * valid length) the value of the complete response, usually its reward `RM(W)`. Over the valid
 * tokens of a prefix-masked row the advantages telescope: `Σₜ Aₜ = V̂[len] − V̂[0]`. Entries of
 * `prefixValues` beyond column `len` are ignored but must be finite (pad with any number).
 *
 * This is Theorem 2 of the paper, `∇J = E Σₜ (E_{W^(t+1)} RM − E_{W^(t)} RM) ∇log π(wₜ | …)`, with
 * both expectations estimated by Monte-Carlo continuations of the policy itself (TRePO); see
 * `interpolatePrefixValues` for filling in prefixes that were not evaluated.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 2 and Section 5 (TRePO)
 * (arXiv 2506.02553).
 *
 * Used by TRePO.
 *
 * Preconditions: `prefixValues` is float32 `[B, T + 1]` with finite entries; `mask` is float32 0/1
 * `[B, T]`.
 *
 * @param prefixValues Value of each response prefix, float32 `[B, T + 1]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns Token advantages, float32 `[B, T]`, 0 at masked positions.
 * @throws {TypeError} When an argument is not a float32 tensor of rank 2 or the shapes do not fit.
 * @throws {RangeError} When a prefix value is NaN or infinite or the mask is not 0/1.
 *
 * @example Prompt value 0.5, response reward 1 after two tokens
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { prefixValueAdvantages } from "./prefix_value.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const prefixValues = tf.tensor2d([[0.5, 0.75, 1, 1]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * const advantages = prefixValueAdvantages(prefixValues, mask);
 * assertArrayAlmostEquals(await advantages.data(), [0.25, 0.25, 0]);
 * tf.dispose([prefixValues, mask, advantages]);
 * ```
 */
export function prefixValueAdvantages(prefixValues: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  const context = "Cannot compute prefix-value advantages";
  const v = checkRank(context, "prefixValues", prefixValues, 2, "[B, T + 1]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  const [rows, columns] = m.shape;
  if (v.shape[0] !== rows || v.shape[1] !== columns + 1) {
    throw new TypeError(
      `${context}: prefixValues must have shape [B, T + 1] for mask of shape [B, T], got prefixValues ${
        formatShape(v.shape)
      } and mask ${formatShape(m.shape)}`,
    );
  }
  checkMask(context, "mask", m);
  checkFinite(context, "prefixValues", v);
  return tf.tidy(() => {
    const after = v.slice([0, 1], [rows, columns]);
    const before = v.slice([0, 0], [rows, columns]);
    return tf.where(m.equal(1), after.sub(before), 0) as tf.Tensor2D;
  });
}
