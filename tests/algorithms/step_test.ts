/**
 * The update every recipe ends with: minibatch normalisation, the loss of the REINFORCE family
 * when a batch is reused, and the metrics that say what they measure.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { sample } from "../../lib/sample/sample.ts";
import { disposeRollout, type Rollout } from "../../lib/sample/rollout.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import { policyGradientLoss } from "../../lib/loss/policy_gradient.ts";
import { resolveConfig, type StepState } from "../../lib/algorithms/step.ts";
import {
  clippedPolicyLoss,
  type PolicyLossInputs,
  scoreFunctionPolicyLoss,
} from "../../lib/algorithms/objective.ts";
import { updatePolicy } from "../../lib/algorithms/policy_update.ts";
import { minibatchPlan } from "../../lib/algorithms/update.ts";
import { rloo } from "../../lib/algorithms/rloo.ts";
import { remax } from "../../lib/algorithms/remax.ts";
import { reinforce } from "../../lib/algorithms/reinforce.ts";
import { grpo } from "../../lib/algorithms/grpo.ts";

await initBackend({ backend: "cpu" });

const EOS = 0;

async function fixture(): Promise<{ policy: Policy; rollout: Rollout; advantages: tf.Tensor2D }> {
  const policy = createPolicy({
    vocabSize: 6,
    dModel: 8,
    layers: 1,
    heads: 1,
    maxLength: 8,
    seed: 4,
  });
  const rollout = await sample(policy, [[1, 2], [3, 4]], {
    groupSize: 3,
    maxTokens: 5,
    eosToken: EOS,
    seed: 9,
  });
  assert(new Set(rollout.lengths).size > 1, "need responses of different lengths");
  const [B, T] = rollout.tokens.shape;
  const values = Array.from({ length: B * T }, (_, i) => ((i * 7) % 5) / 2 - 1);
  const advantages = tf.tidy(() =>
    tf.mul(tf.tensor2d(values, [B, T]), rollout.mask) as tf.Tensor2D
  );
  return { policy, rollout, advantages };
}

/** Σ_t (−A·logπ)·m / L per row, by hand from the current log-probs: one number per row. */
async function rowLosses(policy: Policy, rollout: Rollout, advantages: tf.Tensor2D) {
  const logProbs = tf.tidy(() => tokenLogProbs(policy, rollout));
  const [lp, a, m] = await Promise.all([
    logProbs.array(),
    advantages.array(),
    rollout.mask.array(),
  ]);
  logProbs.dispose();
  return lp.map((row, b) => {
    let sum = 0;
    let count = 0;
    row.forEach((x, t) => {
      sum += -a[b][t] * x * m[b][t];
      count += m[b][t];
    });
    return { sum, count };
  });
}

/** −A·logπ, whatever the config: the normalisation test is about the reduction alone. */
const plainLoss = (x: PolicyLossInputs) => policyGradientLoss(x);

function state(policy: Policy, overrides: Record<string, unknown>, measureAfterUpdate = false) {
  const config = resolveConfig(rloo, { promptsPerStep: 2, groupSize: 3, beta: 0, ...overrides });
  const result: StepState = {
    config,
    policy,
    optimizers: { policy: tf.train.sgd(0) }, // lr 0: every minibatch sees the same θ
    rng: new Random(21),
    step: 1,
    measureAfterUpdate,
  };
  return result;
}

Deno.test("each minibatch is normalised by its own count; one minibatch is the full batch", async () => {
  const { policy, rollout, advantages } = await fixture();
  const rows = await rowLosses(policy, rollout, advantages);
  const tokenMean = (idx: number[]) =>
    idx.reduce((a, b) => a + rows[b].sum, 0) / idx.reduce((a, b) => a + rows[b].count, 0);
  const sequenceMean = (idx: number[]) =>
    idx.reduce((a, b) => a + rows[b].sum / rows[b].count, 0) / idx.length;
  const all = rows.map((_, i) => i);
  for (
    const [aggregation, reduce] of [["token-mean", tokenMean], [
      "sequence-mean",
      sequenceMean,
    ]] as const
  ) {
    // One minibatch: the full-batch loss.
    const one = state(policy, { aggregation });
    const full = await updatePolicy(one, rollout, { advantages }, plainLoss, 5);
    assertAlmostEquals(full["loss/policy"], reduce(all), 1e-5);
    // Two minibatches: each is normalised by its own rows, and the metric is their mean.
    const two = state(policy, { aggregation, minibatches: 2 });
    const plan = minibatchPlan(rows.length, 1, 2, new Random(21));
    const split = await updatePolicy(two, rollout, { advantages }, plainLoss, 5);
    assertAlmostEquals(split["loss/policy"], (reduce(plan[0]) + reduce(plan[1])) / 2, 1e-5);
    one.optimizers.policy.dispose();
    two.optimizers.policy.dispose();
  }
  // "constant" divides by the minibatch's rows × the response budget.
  const constant = state(policy, { aggregation: "constant" });
  const c = await updatePolicy(constant, rollout, { advantages }, plainLoss, 5);
  assertAlmostEquals(
    c["loss/policy"],
    rows.reduce((a, r) => a + r.sum, 0) / (rows.length * 5),
    1e-5,
  );
  constant.optimizers.policy.dispose();
  tf.dispose(advantages);
  disposeRollout(rollout);
  policy.dispose();
});

Deno.test("the REINFORCE family switches to the clipped ratio when a batch makes several steps", async () => {
  const x = {
    logProbs: tf.tensor2d([[Math.log(0.6), Math.log(0.1)]]),
    oldLogProbs: tf.tensor2d([[Math.log(0.3), Math.log(0.2)]]),
    advantages: tf.tensor2d([[1, -1]]),
    mask: tf.tensor2d([[1, 1]]),
  };
  for (const algorithm of [rloo, remax, reinforce]) {
    const base = resolveConfig(algorithm, { groupSize: algorithm.minGroupSize });
    const plain = algorithm.policyLoss(base)(x);
    // One step per batch: −A·logπ.
    const p = await plain.data();
    assertAlmostEquals(p[0], -Math.log(0.6), 1e-6);
    assertAlmostEquals(p[1], Math.log(0.1), 1e-6);
    for (const reuse of [{ epochs: 2 }, { minibatches: 2 }]) {
      const loss = algorithm.policyLoss(resolveConfig(algorithm, {
        groupSize: algorithm.minGroupSize,
        promptsPerStep: 2,
        ...reuse,
      }))(x);
      // ρ = 2 with A = 1 is capped at 1.2; ρ = 0.5 with A = −1 at 0.8: max(0.5, 0.8) = 0.8.
      const v = await loss.data();
      assertAlmostEquals(v[0], -1.2, 1e-6);
      assertAlmostEquals(v[1], 0.8, 1e-6);
      loss.dispose();
    }
    plain.dispose();
  }
  // GRPO's loss is the clipped ratio already.
  const g = grpo.policyLoss(grpo.defaultConfig)(x);
  assertAlmostEquals((await g.data())[0], -1.2, 1e-6);
  tf.dispose([g, ...Object.values(x)]);
});

Deno.test("clip and drift metrics: inside the loss only when a batch is reused, after the update on request", async () => {
  const { policy, rollout, advantages } = await fixture();
  const one = state(policy, {});
  const m1 = await updatePolicy(
    one,
    rollout,
    { advantages },
    scoreFunctionPolicyLoss(one.config),
    5,
  );
  assertEquals("clip_ratio" in m1 || "policy/approx_kl" in m1, false); // 0 by construction
  assertEquals("clip_ratio/after_update" in m1, false);
  const reused = state(policy, { epochs: 2 });
  const m2 = await updatePolicy(
    reused,
    rollout,
    { advantages },
    clippedPolicyLoss(reused.config),
    5,
  );
  assertEquals(m2["clip_ratio"], 0); // lr 0: the ratio stays 1 (up to float error)
  assertAlmostEquals(m2["policy/approx_kl"], 0, 1e-6);
  const moved: StepState = { ...state(policy, {}, true), optimizers: { policy: tf.train.sgd(5) } };
  const m3 = await updatePolicy(moved, rollout, { advantages }, clippedPolicyLoss(moved.config), 5);
  assert(m3["policy/approx_kl_after_update"] !== 0, "the update moved the policy");
  assert(m3["clip_ratio/after_update"] >= 0 && m3["clip_ratio/after_update"] <= 1);
  for (const s of [one, reused, moved]) s.optimizers.policy.dispose();
  tf.dispose(advantages);
  disposeRollout(rollout);
  policy.dispose();
});
