/**
 * The recipes as shipped, as gradient estimators of the theory lab. Each estimate runs a recipe's
 * own code on a batch sampled from the enumerated problem: the recipe's exported advantage
 * function (`grpoAdvantages`, `rlooAdvantages`, `remaxAdvantages`, `ppoAdvantages` with the exact
 * values as a perfect critic, `broadcastToTokens` for REINFORCE, `trepoAdvantages` with
 * continuations drawn from the exact distribution), then the weight the recipe's update gives
 * every `∇log π(w_t | …)`: minus the derivative of its loss (`policyObjective` with the recipe's
 * per-token loss, KL term and aggregation) with respect to the log-probs, at the sampling policy.
 * Nothing of the recipes' arithmetic is copied here; only the problem's side (sampling, exact
 * values, greedy responses, continuations) is.
 *
 * What is modelled: the recipe's first Adam step on a fresh batch of `promptsPerStep × groupSize`
 * responses (its first minibatch, when it has several), at the point where the policy is the
 * sampler and the reference (so ρ = 1 and the KL term's gradient is exactly 0). Prompts cycle
 * over the problem's prompts, so `promptsPerStep` must be a multiple of their number.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { broadcastToTokens } from "../advantage/broadcast_to_tokens.ts";
import {
  defaultGrpoConfig,
  drGrpo,
  drGrpoConfig,
  grpo,
  grpoAdvantages,
  type GrpoConfig,
} from "../algorithms/grpo.ts";
import { defaultPpoConfig, ppo, ppoAdvantages } from "../algorithms/ppo.ts";
import { defaultReinforceConfig, reinforce } from "../algorithms/reinforce.ts";
import { defaultRemaxConfig, remax, remaxAdvantages } from "../algorithms/remax.ts";
import { defaultRlooConfig, rloo, rlooAdvantages } from "../algorithms/rloo.ts";
import { type Algorithm, resolveConfig, type RlConfig } from "../algorithms/step.ts";
import { aggregationNormalizer, policyObjective } from "../algorithms/objective.ts";
import {
  defaultTrepoConfig,
  trepo,
  trepoAdvantages,
  type TrepoConfig,
} from "../algorithms/trepo.ts";
import { minibatchPlan, selectRows, selectRowsOf } from "../algorithms/update.ts";
import type { Random } from "../random.ts";
import { checkInteger } from "../validate.ts";
import type { ContinuationSampler } from "../sample/continue_from.ts";
import { disposeRollout, type Rollout } from "../sample/rollout.ts";
import { makeRollout } from "../sample/sample.ts";
import type { ResponseSpace } from "./enumerate_responses.ts";
import type { EstimationProblem, Expectation, GradientEstimator } from "./estimators.ts";
import {
  greedyResponse,
  type ResponsePath,
  sampleCompletion,
  type TokenMeter,
  tokenMeter,
} from "./exact_sampling.ts";
import { responseReward } from "./token_rewards.ts";

/** One sampled batch of the problem, in the recipes' form. */
interface ShippedBatch {
  /** The problem. */
  problem: EstimationProblem;
  /** The sampled responses, row-major as in the rollout. */
  paths: ResponsePath[];
  /** The prompt index of each row. */
  prompts: number[];
  /** The rollout (tokens, mask, the sampler's log-probs). */
  rollout: Rollout;
  /** `RM(W)` of each row. */
  rewards: number[];
  /** The same, `[B]`. */
  rewardTensor: tf.Tensor1D;
  /** The response budget (the problem's `maxTokens`). */
  maxTokens: number;
  /** The estimate's random stream (continuations, minibatch order). */
  rng: Random;
  /** Counts what the estimate generates and what a critic scores. */
  meter: TokenMeter;
}

/** A recipe's step 3 on a lab batch: token advantages `[B, T]` (the caller disposes them). */
type ShippedAdvantages<C extends RlConfig> = (
  batch: ShippedBatch,
  config: C,
) => Promise<tf.Tensor2D>;

/** What the lab predicts for one recipe's config, and why. */
interface ShippedPrediction {
  expected: GradientEstimator["expected"];
  claim: string;
  expectedHere: Expectation;
  expectedDirection?: GradientEstimator["expectedDirection"];
  reason: string;
}

/** The path of a full response of prompt `prompt` given as tokens (to score continuations). */
function pathOf(space: ResponseSpace, prompt: number, tokens: readonly number[]): ResponsePath {
  const V = space.vocabSize;
  const contexts: number[] = [];
  let s = space.roots[prompt];
  for (const a of tokens) {
    if (s < 0) throw new RangeError(`Cannot score a completion: it runs past the response's end`);
    contexts.push(s);
    s = space.children[s * V + a];
  }
  return { tokens: [...tokens], contexts };
}

/** Draw a batch as a recipe with this config samples it, and wrap it as a rollout. */
function sampleShippedBatch(
  problem: EstimationProblem,
  config: RlConfig,
  rng: Random,
  meter: TokenMeter,
): ShippedBatch {
  const { space, probs, rewards: tokenRewards } = problem;
  const P = space.prompts.length;
  const V = space.vocabSize;
  const prompts: number[] = [];
  const paths: ResponsePath[] = [];
  for (let q = 0; q < config.promptsPerStep; q++) {
    for (let g = 0; g < config.groupSize; g++) {
      prompts.push(q % P);
      paths.push(sampleCompletion(space, probs, space.roots[q % P], rng, meter));
    }
  }
  const logProbs = paths.map((p) => p.tokens.map((a, t) => Math.log(probs[p.contexts[t] * V + a])));
  const rollout = makeRollout(
    prompts.map((p) => [...space.prompts[p]]),
    paths.map((p) => p.tokens),
    logProbs,
    space.eosToken,
    config.groupSize,
  );
  const rewards = paths.map((p) => responseReward(space, tokenRewards, p));
  return {
    problem,
    paths,
    prompts,
    rollout,
    rewards,
    rewardTensor: tf.tensor1d(rewards),
    maxTokens: space.maxTokens,
    rng,
    meter,
  };
}

/**
 * The coefficient table of one as-shipped estimate: `C[s, a] += −∂L/∂logπ(w_{i,t})` over the
 * rows of the recipe's first minibatch, where `L` is `policyObjective` with the recipe's loss.
 */
async function shippedCoefficients<C extends RlConfig>(
  algorithm: Algorithm<C>,
  config: C,
  batch: ShippedBatch,
  advantages: tf.Tensor2D,
): Promise<Float64Array> {
  const { space } = batch.problem;
  const V = space.vocabSize;
  const B = batch.paths.length;
  const rows = minibatchPlan(B, config.epochs, config.minibatches, batch.rng)[0];
  const mb = selectRows(batch.rollout, rows);
  const width = mb.tokens.shape[1];
  const mbAdvantages = selectRowsOf(advantages, rows, width);
  const gradient = tf.tidy(() => {
    const objective = (logProbs: tf.Tensor2D) =>
      policyObjective(
        { logProbs, oldLogProbs: mb.logProbs, advantages: mbAdvantages, mask: mb.mask },
        mb.logProbs, // the reference is the sampler here: the KL term's gradient is 0
        {
          loss: algorithm.policyLoss(config),
          beta: config.beta,
          aggregation: config.aggregation,
          normalizer: aggregationNormalizer(config, rows.length, batch.maxTokens),
        },
      );
    // A copy: the differentiated log-probs must not be the very tensor that is the constant
    // π_old, or the ratio exp(logπ − logπ_old) would be differentiated through both.
    const logProbs = tf.clone(mb.logProbs);
    return tf.grad((x: tf.Tensor) => objective(x as tf.Tensor2D))(logProbs) as tf.Tensor2D;
  });
  try {
    const g = await gradient.data();
    const C = new Float64Array(space.contexts.length * V);
    rows.forEach((row, i) => {
      const path = batch.paths[row];
      for (let t = 0; t < path.tokens.length; t++) {
        C[path.contexts[t] * V + path.tokens[t]] -= g[i * width + t];
      }
    });
    return C;
  } finally {
    tf.dispose([gradient, mbAdvantages]);
    disposeRollout(mb);
  }
}

/** An as-shipped estimator from a recipe, its config, its step 3 and the lab's prediction. */
function shippedEstimator<C extends RlConfig>(
  name: string,
  label: string,
  algorithm: Algorithm<C>,
  config: C,
  advantages: ShippedAdvantages<C>,
  prediction: ShippedPrediction,
): GradientEstimator {
  const checked = resolveConfig(algorithm, config);
  return {
    name,
    label,
    ...prediction,
    asShipped: { algorithm: algorithm.name, config: { ...checked } as Record<string, unknown> },
    async estimate(problem, rng, meter = tokenMeter()) {
      const P = problem.space.prompts.length;
      if (checked.promptsPerStep % P !== 0) {
        throw new RangeError(
          `Cannot run ${name} as shipped: promptsPerStep ${checked.promptsPerStep} is not a multiple of the problem's ${P} prompts`,
        );
      }
      const batch = sampleShippedBatch(problem, checked, rng, meter);
      let tokens: tf.Tensor2D | undefined;
      try {
        tokens = await advantages(batch, checked);
        return await shippedCoefficients(algorithm, checked, batch, tokens);
      } finally {
        tokens?.dispose();
        batch.rewardTensor.dispose();
        disposeRollout(batch.rollout);
      }
    },
  };
}

/** Continuations from the exact distribution of the problem, with `continueFrom`'s contract. */
function exactContinuations(batch: ShippedBatch): ContinuationSampler {
  const { space, probs } = batch.problem;
  return (_rollout, prefixes, options) => {
    let generatedTokens = 0;
    const completions: number[][] = [];
    for (const { row, position } of prefixes) {
      const path = batch.paths[row];
      for (let k = 0; k < options.samples; k++) {
        const head = path.tokens.slice(0, position);
        const tail = position < path.tokens.length
          ? sampleCompletion(space, probs, path.contexts[position], options.rng!, batch.meter)
            .tokens
          : [];
        generatedTokens += tail.length;
        completions.push([...head, ...tail]);
      }
    }
    return Promise.resolve({ prefixes, samples: options.samples, completions, generatedTokens });
  };
}

/** The exact values `V(W[0..t−1])` of every token's state, `[B, T]` (PPO's perfect critic). */
function exactTokenValues(batch: ShippedBatch): tf.Tensor2D {
  const [B, T] = batch.rollout.tokens.shape;
  const values = new Float32Array(B * T);
  batch.paths.forEach((path, i) => {
    path.contexts.forEach((s, t) => values[i * T + t] = batch.problem.values.values[s]);
    batch.meter.criticScored += path.contexts.length;
  });
  return tf.tensor2d(values, [B, T]);
}

/** A GRPO row: `grpoAdvantages` with this config (`drGrpo` for Dr. GRPO's). */
function grpoRow(
  name: string,
  label: string,
  config: GrpoConfig,
  prediction: ShippedPrediction,
  algorithm: Algorithm<GrpoConfig> = grpo,
): GradientEstimator {
  return shippedEstimator(name, label, algorithm, config, (batch, c) => {
    const { responses, tokens } = grpoAdvantages(batch.rewardTensor, batch.rollout.mask, c);
    responses.dispose();
    return Promise.resolve(tokens);
  }, prediction);
}

/**
 * A TRePO row: `trepoAdvantages` with this config, continuations drawn from the exact
 * distribution and scored with the problem's `RM`. The prediction follows from `positions`: with
 * `m ≥ maxTokens − 1` every interior position of every response is evaluated (unbiased), else
 * the interpolated stretches share credit (biased in direction).
 */
function trepoRow(
  name: string,
  label: string,
  config: TrepoConfig,
  maxTokens: number,
): GradientEstimator {
  const every = config.positions >= maxTokens - 1;
  return shippedEstimator(
    name,
    label,
    trepo,
    config,
    async (batch, c) => {
      const result = await trepoAdvantages(
        exactContinuations(batch),
        batch.rollout,
        batch.rewards,
        {
          groupSize: c.groupSize,
          positions: c.positions,
          continuations: c.continuations,
          maxTokens: batch.maxTokens,
          temperature: c.temperature,
          eosToken: batch.problem.space.eosToken,
          rng: batch.rng,
          scoreCompletions: (promptTokens, completions) =>
            Promise.resolve(completions.map((tokens, i) => {
              const prompt = batch.problem.space.prompts.findIndex((p) =>
                p.length === promptTokens[i].length &&
                p.every((x, j) => x === promptTokens[i][j])
              );
              return responseReward(
                batch.problem.space,
                batch.problem.rewards,
                pathOf(batch.problem.space, prompt, tokens),
              );
            })),
        },
      );
      result.prefixValues.dispose();
      return result.advantages;
    },
    every
      ? {
        expected: "unbiased",
        claim: "Theorem 2 (Eq. 28) with Monte-Carlo values from independent rollouts",
        expectedHere: "unbiased",
        expectedDirection: "unbiased up to scale",
        reason: "every prefix value comes from rollouts independent of the token it scores " +
          "(V̂(0) from the group's other responses) and sequence-sum weights every token by 1/B",
      }
      : {
        expected: "unbiased",
        claim: "Eq. 28 (the paper does not say how unevaluated positions are filled)",
        expectedHere: "biased",
        expectedDirection: "biased in direction",
        reason: "each token of an interpolated stretch of s tokens gets 1/s of its own " +
          "credit (Q − V of its own step) and shares the rest, at any fixed length",
      },
  );
}

const SUM_UNBIASED =
  "its baseline does not depend on the response and sequence-sum weights every token by 1/B, " +
  "the weight of Theorem 1";

/**
 * Every recipe as shipped (its default config, on the problem's prompts): PPO (exact values as
 * the critic), GRPO, GRPO with only its std division and with only its per-sequence mean (what
 * each choice does to the gradient), Dr. GRPO, ReMax, RLOO, REINFORCE, TRePO, and TRePO with
 * one evaluated interior position (the interpolated variant). Each carries what the paper states, what the lab
 * expects of this implementation (`expectedHere`) and why.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorems 1–2, Lemma 2, Eq. 26, §5.
 * @param maxTokens The problem's response budget (default 4): TRePO's default m covers every
 *   interior position when `m ≥ maxTokens − 1`, which its row's prediction depends on.
 * @returns The estimators, in that order.
 *
 * @example
 * ```ts
 * import { asShippedEstimators } from "./as_shipped.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const rows = asShippedEstimators();
 * assertEquals(rows.map((e) => e.asShipped?.algorithm), [
 *   "ppo", "grpo", "grpo", "grpo", "dr_grpo", "remax", "rloo", "reinforce", "trepo", "trepo",
 * ]);
 * ```
 */
export function asShippedEstimators(maxTokens = 4): GradientEstimator[] {
  const G = (c: RlConfig) => c.groupSize;
  return [
    shippedEstimator(
      "ppo-as-shipped",
      "PPO as shipped (exact V as the critic)",
      ppo,
      defaultPpoConfig,
      (batch, config) => {
        const values = exactTokenValues(batch);
        try {
          const { advantages, returns } = ppoAdvantages({
            rewards: batch.rewardTensor,
            logProbs: batch.rollout.logProbs,
            refLogProbs: batch.rollout.logProbs,
            values,
            mask: batch.rollout.mask,
          }, config);
          returns.dispose();
          return Promise.resolve(advantages);
        } finally {
          values.dispose();
        }
      },
      {
        expected: "unbiased",
        claim: "Theorem 2 (Eq. 28): Q − V under the ZRA with γ = 1",
        expectedHere: "biased",
        reason:
          "GAE with the exact V is unbiased for Q − V at every λ, but token-mean divides by " +
          "the minibatch's token count (scale ≈ 1/E[L]) and whitening shifts and rescales by " +
          "batch statistics",
      },
    ),
    grpoRow("grpo-as-shipped", "GRPO as shipped (group std, sequence-mean)", defaultGrpoConfig, {
      expected: "unbiased up to a per-prompt rescale",
      claim: "Theorem 1 + Lemma 2; §5 calls the std division a per-prompt rescale",
      expectedHere: "biased",
      expectedDirection: "biased in direction",
      reason:
        `the group mean includes the response ((G − 1)/G = ${
          (G(defaultGrpoConfig) - 1) / G(defaultGrpoConfig)
        }), the sampled group std rescales each prompt by a random factor, and sequence-mean ` +
        "weights each response by 1/L, which depends on its tokens",
    }),
    grpoRow(
      "grpo-std-only",
      "GRPO's std division alone (sequence-sum)",
      { ...defaultGrpoConfig, aggregation: "sequence-sum" },
      {
        expected: "unbiased up to a per-prompt rescale",
        claim: "§5: the std division is a per-prompt rescale",
        expectedHere: "biased",
        expectedDirection: "biased in direction",
        reason: "dividing by the sampled group std weights each prompt by a random factor that " +
          "is correlated with its own rewards, and prompts by different amounts",
      },
    ),
    grpoRow(
      "grpo-length-only",
      "GRPO's sequence-mean alone (no std)",
      { ...defaultGrpoConfig, scale: "none" },
      {
        expected: "unbiased",
        claim: "Theorem 1 + Lemma 2 (the paper does not discuss the 1/L weight)",
        expectedHere: "biased",
        expectedDirection: "biased in direction",
        reason: "sequence-mean weights each response by 1/L, and L depends on the sampled tokens",
      },
    ),
    grpoRow(
      "dr-grpo-as-shipped",
      "Dr. GRPO as shipped (no std, constant normaliser)",
      drGrpoConfig,
      {
        expected: "unbiased",
        claim: "Theorem 1 + Lemma 2 (group mean as prompt-level baseline)",
        expectedHere: "biased",
        expectedDirection: "unbiased up to scale",
        reason: "a constant factor only: the group mean includes the response ((G − 1)/G) and " +
          "the constant normaliser B × maxTokens weights every token by 1/(B × maxTokens), " +
          "so E[ĝ] = (G − 1)/(G × maxTokens) · ∇J",
      },
      drGrpo,
    ),
    shippedEstimator(
      "remax-as-shipped",
      "ReMax as shipped (greedy baseline, sequence-sum)",
      remax,
      defaultRemaxConfig,
      (batch, config) => {
        const { space, probs, rewards } = batch.problem;
        // One greedy decode per prompt of the batch, as the recipe runs it (counted in the meter).
        const perPrompt = Array.from({ length: config.promptsPerStep }, (_, q) =>
          responseReward(
            space,
            rewards,
            greedyResponse(space, probs, batch.prompts[q * config.groupSize], batch.meter),
          ));
        const { responses, tokens } = remaxAdvantages(
          batch.rewardTensor,
          perPrompt,
          batch.rollout.mask,
          config,
        );
        responses.dispose();
        return Promise.resolve(tokens);
      },
      {
        expected: "unbiased",
        claim: "Theorem 1 + Lemma 2 (deterministic prompt-level baseline)",
        expectedHere: "unbiased",
        expectedDirection: "unbiased up to scale",
        reason: SUM_UNBIASED,
      },
    ),
    shippedEstimator(
      "rloo-as-shipped",
      "RLOO as shipped (leave-one-out, sequence-sum)",
      rloo,
      defaultRlooConfig,
      (batch, config) => {
        const { responses, tokens } = rlooAdvantages(
          batch.rewardTensor,
          batch.rollout.mask,
          config,
        );
        responses.dispose();
        return Promise.resolve(tokens);
      },
      {
        expected: "unbiased",
        claim: "Theorem 1 + Lemma 2",
        expectedHere: "unbiased",
        expectedDirection: "unbiased up to scale",
        reason: SUM_UNBIASED,
      },
    ),
    shippedEstimator(
      "reinforce-as-shipped",
      "REINFORCE as shipped (no baseline, sequence-sum)",
      reinforce,
      defaultReinforceConfig,
      (batch) => Promise.resolve(broadcastToTokens(batch.rewardTensor, batch.rollout.mask)),
      {
        expected: "unbiased",
        claim: "Theorem 1 (Eq. 21)",
        expectedHere: "unbiased",
        expectedDirection: "unbiased up to scale",
        reason: "RM(W) on every token with weight 1/B is Theorem 1's estimator itself",
      },
    ),
    ...[defaultTrepoConfig, { ...defaultTrepoConfig, positions: 1 }].map((config) => {
      const every = config.positions >= maxTokens - 1;
      return trepoRow(
        every ? "trepo-as-shipped" : "trepo-m1-as-shipped",
        every
          ? `TRePO as shipped (m = ${config.positions}: every position here, K = ${config.continuations})`
          : `TRePO as shipped with m = ${config.positions} + interpolation (K = ${config.continuations})`,
        config,
        maxTokens,
      );
    }),
  ];
}

/** The continuation counts of the TRePO frontier grid. */
export const TREPO_FRONTIER_CONTINUATIONS: readonly number[] = [1, 2, 4, 8];

/**
 * TRePO as shipped over the frontier grid: K ∈ {1, 2, 4, 8} crossed with every interior position
 * evaluated (`m = maxTokens − 1`), `m = 4` and `m = 1`, each with interpolation between evaluated
 * positions and the rest of `defaultTrepoConfig`. Where `m = 4` already covers every position
 * (`maxTokens ≤ 5`) that row is the "every position" row and is not repeated.
 *
 * @param maxTokens The problem's response budget.
 * @returns The rows, K-major: every position, then m = 4 (when distinct), then m = 1.
 * @throws {RangeError} When `maxTokens < 2` (there is no interior position to evaluate).
 *
 * @example
 * ```ts
 * import { trepoFrontierEstimators } from "./as_shipped.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(trepoFrontierEstimators(4).length, 8); // m = 4 is every position here
 * assertEquals(trepoFrontierEstimators(10).length, 12);
 * assertEquals(trepoFrontierEstimators(10)[0].name, "trepo-as-shipped-k1-every");
 * ```
 */
export function trepoFrontierEstimators(maxTokens: number): GradientEstimator[] {
  checkInteger("Cannot build the TRePO frontier grid", "maxTokens", maxTokens, 2);
  const every = maxTokens - 1;
  return TREPO_FRONTIER_CONTINUATIONS.flatMap((K) => {
    const ms = every > 4 ? [every, 4, 1] : [every, 1];
    return ms.map((m) => {
      const config = { ...defaultTrepoConfig, continuations: K, positions: m };
      const all = m === every;
      return trepoRow(
        `trepo-as-shipped-k${K}-${all ? "every" : `m${m}`}`,
        all
          ? `TRePO, K = ${K}, every position (m = ${m})`
          : `TRePO, K = ${K}, m = ${m} + interpolation`,
        config,
        maxTokens,
      );
    });
  });
}
