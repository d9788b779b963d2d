/**
 * Step 4's update of every recipe's policy: epochs × minibatches of Adam steps on the recipe's
 * {@linkcode policyObjective}, each minibatch cut into micro-batches when asked (gradient
 * accumulation), with the metrics measured inside the loss (`clip_ratio`, `policy/approx_kl`),
 * the truncated importance weights against a remote sampler, and the optional after-update pass.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rollout } from "../sample/rollout.ts";
import { tokenLogProbs } from "../sample/token_log_probs.ts";
import { truncatedImportanceWeights } from "../loss/truncated_importance_weights.ts";
import { clipFractionCounts } from "../metrics/clip_fraction.ts";
import { approxKlSums } from "../metrics/approx_kl.ts";
import {
  accumulationNormalizer,
  aggregationNormalizer,
  type PolicyLossFn,
  policyObjective,
} from "./objective.ts";
import type { StepMetrics, StepState } from "./step.ts";
import {
  applyUpdate,
  checkMicroBatchSize,
  microBatchPlan,
  minibatchPlan,
  minibatchSizes,
  selectRows,
  selectRowsOf,
} from "./update.ts";

/** The constants of a policy update. */
export interface PolicyUpdateInputs {
  /** Token advantages `[B, T]` (constant; zero at masked positions). */
  advantages: tf.Tensor2D;
  /** Reference log-probs `[B, T]`, when the KL term is on. */
  refLogProbs?: tf.Tensor2D;
}

/**
 * The update every recipe ends with: for `epochs` passes, for each of `minibatches` random parts
 * of the rollout, one Adam step on {@linkcode policyObjective} with the recipe's per-token loss.
 * Old log-probs are `rollout.logProbs` (the sampler's, or the local policy's when the sampler is
 * a server; see `sampleResponses`). With a remote sampler and
 * `state.importanceSamplingCap`, each token's loss is weighted by its truncated importance weight
 * against the server (`truncatedImportanceWeights`), and `sampler/importance_weight_mean` and
 * `sampler/importance_weight_truncated_fraction` report them. Each minibatch's loss is normalised by
 * its own token or sequence count (TRL, verl), so every Adam step sees a loss of the same scale
 * whatever the number of minibatches.
 *
 * With `config.microBatchSize > 0` each minibatch is cut into micro-batches of that many rows
 * (gradient accumulation): each runs its own forward and backward pass, its loss normalised by the
 * whole minibatch's count ({@linkcode accumulationNormalizer}), their gradients are summed, and
 * the clipping and the Adam step happen once per minibatch. The loss, the gradient and every
 * metric below are those of the minibatch in one pass (up to float rounding); only the peak
 * memory changes.
 *
 * Metrics: `loss/policy` is the mean loss of the Adam steps; `grad_norm` their mean gradient
 * norm before clipping. When the batch makes more than one Adam step, `clip_ratio` (fraction of
 * valid tokens where the clip was active, see `clipFraction`) and `policy/approx_kl`
 * (`mean(logπ_old − logπ_θ)`) are measured inside each step's loss and averaged, as TRL logs them;
 * with one step they would be 0 by construction (ρ = 1) and are left out. With
 * `state.measureAfterUpdate`, one extra forward pass over the whole batch after the last step
 * gives `clip_ratio/after_update` and `policy/approx_kl_after_update`: how far the update moved
 * the policy from the sampler on this batch.
 *
 * @param state The step's state.
 * @param rollout The batch of responses.
 * @param inputs Advantages and reference log-probs (constants).
 * @param loss The recipe's per-token loss.
 * @param maxTokens The response budget of the step (for `"constant"`).
 * @returns The metrics above.
 * @throws {RangeError} When `config.microBatchSize` does not divide every minibatch's rows (before
 *   any Adam step), or the loss or the gradient is not finite.
 */
export async function updatePolicy(
  state: StepState,
  rollout: Rollout,
  inputs: PolicyUpdateInputs,
  loss: PolicyLossFn,
  maxTokens: number,
): Promise<StepMetrics> {
  const { config, policy } = state;
  const rows = rollout.lengths.length;
  const plan = minibatchPlan(rows, config.epochs, config.minibatches, state.rng);
  const weights = [...policy.weights.values()];
  const reused = plan.length > 1;
  const cap = state.importanceSamplingCap;
  let lossSum = 0;
  let normSum = 0;
  let clipSum = 0;
  let driftSum = 0;
  checkMicroBatchSize(
    `Cannot update the policy at step ${state.step}`,
    minibatchSizes(rows, config.minibatches),
    config.microBatchSize,
  );
  for (const mbRows of plan) {
    const micro = microBatchPlan(mbRows, config.microBatchSize);
    const constant = aggregationNormalizer(config, mbRows.length, maxTokens);
    const normalizer = micro.length === 1
      ? constant
      : await accumulationNormalizer(config.aggregation, rollout.mask, mbRows, constant);
    // clip and drift counts are summed over the micro-batches outside the gradient's tidy and read
    // in one await afterwards (no synchronous read: it would throw on webgpu).
    let counts: tf.Tensor | undefined;
    try {
      // Each micro-batch's rows and constants are made inside its tape, and freed with it.
      const result = await applyUpdate(state.optimizers.policy, weights, (k) => {
        const mb = selectRows(rollout, micro[k]);
        const width = mb.tokens.shape[1];
        const logProbs = tokenLogProbs(policy, mb, { temperature: config.temperature });
        const x = {
          logProbs,
          oldLogProbs: mb.logProbs,
          advantages: selectRowsOf(inputs.advantages, micro[k], width),
          mask: mb.mask,
          importanceWeights: cap === undefined || mb.samplerLogProbs === undefined
            ? undefined
            : truncatedImportanceWeights(mb.logProbs, mb.samplerLogProbs, mb.mask, cap),
        };
        if (reused) {
          const part = tf.concat([
            clipFractionCounts(x, { epsilon: config.clipEpsilon }),
            approxKlSums(logProbs, mb.logProbs, mb.mask),
          ]);
          const sum = counts === undefined ? part : tf.add(counts, part);
          counts?.dispose();
          counts = tf.keep(sum);
        }
        const ref = inputs.refLogProbs === undefined
          ? undefined
          : selectRowsOf(inputs.refLogProbs, micro[k], width);
        return policyObjective(x, ref, {
          loss,
          beta: config.beta,
          aggregation: config.aggregation,
          normalizer,
        });
      }, {
        maxGradNorm: config.maxGradNorm,
        what: "the policy",
        step: state.step,
        microBatches: micro.length,
      });
      lossSum += result.loss;
      normSum += result.gradNorm;
      if (counts !== undefined) {
        const [clipped, valid, drift, tokens] = await counts.data();
        clipSum += valid > 0 ? clipped / valid : 0;
        driftSum += tokens > 0 ? drift / tokens : 0;
      }
    } finally {
      counts?.dispose();
    }
  }
  return {
    "loss/policy": lossSum / plan.length,
    "grad_norm": normSum / plan.length,
    ...(reused
      ? { "clip_ratio": clipSum / plan.length, "policy/approx_kl": driftSum / plan.length }
      : {}),
    ...(cap !== undefined && rollout.samplerLogProbs !== undefined
      ? await importanceWeightMetrics(rollout, cap)
      : {}),
    ...(state.measureAfterUpdate
      ? await afterUpdateMetrics(state, rollout, inputs.advantages)
      : {}),
  };
}

/** The mean truncated importance weight over the valid tokens, and the fraction truncated. */
async function importanceWeightMetrics(rollout: Rollout, cap: number): Promise<StepMetrics> {
  const stats = tf.tidy(() => {
    const w = truncatedImportanceWeights(
      rollout.logProbs,
      rollout.samplerLogProbs!,
      rollout.mask,
      cap,
    );
    const count = tf.maximum(tf.sum(rollout.mask), 1);
    const truncated = tf.mul(tf.cast(tf.greaterEqual(w, cap), "float32"), rollout.mask);
    return tf.stack([tf.div(tf.sum(w), count), tf.div(tf.sum(truncated), count)]);
  });
  try {
    const [mean, truncated] = await stats.data();
    return {
      "sampler/importance_weight_mean": mean,
      "sampler/importance_weight_truncated_fraction": truncated,
    };
  } finally {
    stats.dispose();
  }
}

/** `clip_ratio/after_update` and `policy/approx_kl_after_update`: one forward pass, no gradient. */
async function afterUpdateMetrics(
  state: StepState,
  rollout: Rollout,
  advantages: tf.Tensor2D,
): Promise<StepMetrics> {
  const counts = tf.tidy(() => {
    const logProbs = tokenLogProbs(state.policy, rollout, {
      temperature: state.config.temperature,
    });
    const x = { logProbs, oldLogProbs: rollout.logProbs, advantages, mask: rollout.mask };
    return tf.concat([
      clipFractionCounts(x, { epsilon: state.config.clipEpsilon }),
      approxKlSums(logProbs, rollout.logProbs, rollout.mask),
    ]);
  });
  try {
    const [clipped, valid, drift, tokens] = await counts.data();
    return {
      "clip_ratio/after_update": valid > 0 ? clipped / valid : 0,
      "policy/approx_kl_after_update": tokens > 0 ? drift / tokens : 0,
    };
  } finally {
    counts.dispose();
  }
}
