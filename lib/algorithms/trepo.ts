/**
 * TRePO, the paper's proposal: token advantages `A_t = V̂(W[0..t]) − V̂(W[0..t−1])` from Monte-Carlo
 * prefix values estimated by the policy's own continuations, with no critic.
 *
 * @experimental The paper (He et al., arXiv 2506.02553, §5) describes TRePO in prose only, with no
 * code and no experiments. What it leaves open, and what we chose:
 *
 * - **Which prefixes are evaluated.** For each response of valid length L, `m` distinct positions
 *   drawn uniformly from 1..L−1 (all of them when L − 1 ≤ m), plus 0 and L. Random positions are
 *   the paper's suggestion; VinePPO uses reasoning-step boundaries instead.
 * - **V̂ at an evaluated position p.** The mean reward of K continuations `y_k ~ π(·|prompt ⊕ W[0..p])`
 *   sampled at the training temperature (`continueFrom`), all prefixes of a step in one batch.
 *   V̂(L) = RM(W), the response's own reward.
 * - **V̂(0), the prompt-level value.** With G ≥ 2 responses per prompt, the mean reward of the
 *   other G − 1 responses of the group (leave-one-out, no extra sampling); with G = 1, the mean
 *   reward of K continuations of the bare prompt. Either way V̂(0) is independent of the response
 *   it is subtracted from, so the first token's advantage is not correlated with its own action
 *   (a group mean that includes the response shrinks that token's expected update by (G − 1)/G).
 * - **Between evaluated positions.** Values (not advantages) are interpolated linearly, so the
 *   token advantages telescope: `Σ_t A_t = RM(W) − V̂(0)` exactly, whatever m is. With every
 *   position evaluated the update is an unbiased estimate of `∇J` (Eq. 28); an interpolated
 *   stretch of s tokens gives each of its tokens 1/s of its own credit, which biases the
 *   direction (`deno task theorem` measures both).
 * - **Loss.** PPO's clipped surrogate on the token advantages (no whitening, no std scaling), a k3
 *   KL to the reference in the loss as in GRPO, γ = 1 (the paper's Eq. 26 argument), and
 *   `"sequence-sum"` aggregation (Σ over a response's tokens, mean over responses): the weight
 *   Eq. 28 gives every `∇log π(w_t|…)`. A per-sequence mean would weight response i by 1/L_i,
 *   a factor that depends on the sampled tokens and biases the direction of the update.
 * - **Continuation budget.** A continuation from position p has at most `maxTokens − p` new tokens,
 *   so that completions are distributed like full responses (`continueFrom`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Random } from "../random.ts";
import type { Policy } from "../policy/transformer.ts";
import { checkRollout, disposeRollout, type Rollout } from "../sample/rollout.ts";
import { makeRollout } from "../sample/sample.ts";
import { type ContinuationSampler, continueFrom, type Prefix } from "../sample/continue_from.ts";
import { localSampler } from "../sample/sampler.ts";
import { interpolatePrefixValues } from "../advantage/interpolate_prefix_values.ts";
import { prefixValueAdvantages } from "../advantage/prefix_value.ts";
import { checkFiniteValues, checkInteger, describe } from "../validate.ts";
import {
  type Algorithm,
  RL_CONFIG_SPEC,
  type RlConfig,
  type StepBatch,
  type StepMetrics,
  type StepState,
} from "./step.ts";
import { referenceLogProbs, responseEnd, sampleResponses, scoreRollout } from "./rollout.ts";
import { clippedPolicyLoss } from "./objective.ts";
import { updatePolicy } from "./policy_update.ts";
import { phaseClock, rewardMetrics, rolloutMetrics } from "./step_metrics.ts";
import { maskedMean, secondsSince } from "./update.ts";

/** TRePO's settings. */
export interface TrepoConfig extends RlConfig {
  /** m: interior positions evaluated per response (0 and the end are always evaluated). */
  positions: number;
  /** K: continuations sampled per evaluated position. */
  continuations: number;
}

/** TRePO's defaults. Batch sizes and learning rate are ours, sized for the tiny tasks. */
export const defaultTrepoConfig: Readonly<TrepoConfig> = Object.freeze({
  /** Ours: 16 prompts × 4 responses = 64 responses per step, as every recipe here (see GRPO's `promptsPerStep`). */
  promptsPerStep: 16,
  /** G = 4: the other G − 1 responses give each response's prompt-level value V̂(w0) (ours; the paper leaves it open). */
  groupSize: 4,
  /** Ours (tiny model), as every recipe here.  Measured here (addition, 64 responses per step, from the learning test's warm start): 3e-5 and 1e-4 give similar gains over 60 steps (ReMax +7.5 / +7 points from 75 %), but a random-reward null run moves greedy accuracy by up to 4 points at 1e-4 against 3 at 3e-5, and by −21.5 points at 1e-4 from a knife-edge start (53.5 %, most right answers with π(y*) < 0.35); 1e-3 lowers accuracy even when ascending the exact gradient. */
  learningRate: 3e-5,
  /** TRL `max_grad_norm` default 1.0. */
  maxGradNorm: 1,
  /** β = 0.04, k3 in the loss: as GRPO (DeepSeekMath). */
  beta: 0.04,
  /** Temperature 1: the values are those of the policy's own distribution. */
  temperature: 1,
  /** One on-policy pass, as GRPO. */
  epochs: 1,
  /** One minibatch. */
  minibatches: 1,
  /** ε = 0.2: PPO paper. */
  clipEpsilon: 0.2,
  /**
   * Σ over a response's tokens, mean over responses: the estimator of Eq. 28, unbiased with every
   * position evaluated. Not GRPO's per-sequence mean, whose 1/L weight depends on the sampled
   * response (measured biased in direction in `deno task theorem`). The step size stays sane:
   * a response's advantages sum to `RM(W) − V̂(0)`, as RLOO's sequence-sum does per token.
   */
  aggregation: "sequence-sum",
  /** 0: the task's `maxResponseTokens`. */
  maxTokens: 0,
  /** 0: each minibatch in one forward/backward pass (no gradient accumulation). */
  microBatchSize: 0,
  /** m = 4 random interior positions (ours; the paper says "randomly chosen" without a number). */
  positions: 4,
  /** K = 4 continuations per position (ours; VinePPO uses K = 9 on GSM8K). */
  continuations: 4,
});

/**
 * Draw the evaluated positions of one response: 0, up to `m` distinct interior positions from
 * 1..L−1 (uniformly), and L, in increasing order.
 *
 * @param length L, the response's valid length (≥ 1).
 * @param m Interior positions wanted (≥ 0).
 * @param rng The stream to draw from.
 * @returns Sorted positions starting at 0 and ending at L.
 *
 * @example
 * ```ts
 * import { Random } from "../random.ts";
 * import { samplePrefixPositions } from "./trepo.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(samplePrefixPositions(3, 4, new Random(1)), [0, 1, 2, 3]);
 * const p = samplePrefixPositions(20, 4, new Random(1));
 * assertEquals(p.length, 6);
 * assertEquals([p[0], p[5]], [0, 20]);
 * ```
 */
export function samplePrefixPositions(length: number, m: number, rng: Random): number[] {
  const context = "Cannot choose prefix positions";
  checkInteger(context, "length", length, 1);
  checkInteger(context, "m", m, 0);
  const interior = Array.from({ length: length - 1 }, (_, i) => i + 1);
  const take = Math.min(m, interior.length);
  for (let i = 0; i < take; i++) {
    const j = i + rng.int(interior.length - i);
    [interior[i], interior[j]] = [interior[j], interior[i]];
  }
  const chosen = interior.slice(0, take).sort((a, b) => a - b);
  return [0, ...chosen, length];
}

/** Options of {@linkcode trepoAdvantages}. */
export interface TrepoAdvantageOptions {
  /**
   * G: responses per prompt, contiguous rows. With G ≥ 2, V̂(0) of a row is the mean reward of
   * the other G − 1 rows of its group; with G = 1 it comes from K continuations of the prompt.
   */
  groupSize: number;
  /** m: interior positions evaluated per response (0 and the end are always evaluated). */
  positions: number;
  /** K: continuations sampled per evaluated position. */
  continuations: number;
  /** The response-length cap the rollout was sampled with (continuations respect it). */
  maxTokens: number;
  /** Softmax temperature of the continuations (default 1). */
  temperature?: number;
  /** The EOS token id. */
  eosToken: number;
  /** More ids that end a continuation as `eosToken` does; default none. */
  stopTokens?: readonly number[];
  /** The stream the positions, then the continuations, are drawn from (advanced by the call). */
  rng: Random;
  /**
   * Rewards of full responses: `promptTokens[i]` and `completions[i]` (response tokens, EOS
   * included when sampled) → one reward per completion, in order.
   */
  scoreCompletions: (promptTokens: number[][], completions: number[][]) => Promise<number[]>;
}

/** What {@linkcode trepoAdvantages} returns. The caller disposes both tensors. */
export interface TrepoAdvantages {
  /** Token advantages `A_t = V̂(t+1) − V̂(t)`, `[B, T]`, 0 at masked positions. */
  advantages: tf.Tensor2D;
  /** Prefix values `[B, T + 1]`: column t is V̂ of the prompt plus the first t response tokens
   * (held at RM(W) after the response's end). */
  prefixValues: tf.Tensor2D;
  /** The evaluated positions of each row (0, the drawn interior positions, the length). */
  positions: number[][];
  /** Number of continued prefixes (each got K continuations): the interior ones, plus the bare
   * prompt of every row when G = 1. */
  prefixes: number;
  /** Tokens sampled for the continuations. */
  continuationTokens: number;
  /** Wall-clock seconds spent sampling continuations. */
  continuationSeconds: number;
}

/**
 * TRePO's token advantages for a sampled rollout whose responses are already scored: draw the
 * evaluated positions of every row ({@linkcode samplePrefixPositions}), estimate
 * `V̂(p) = (1/K) Σ_k RM(W[0..p] ⊕ y_k)` at the interior ones from K continuations (all prefixes
 * in one batch), set `V̂(L) = RM(W)` and V̂(0) to the leave-one-out mean of the group's other
 * rewards (G ≥ 2) or to the mean of K continuations of the prompt (G = 1), interpolate the values
 * linearly in between ({@linkcode interpolatePrefixValues}) and difference them
 * ({@linkcode prefixValueAdvantages}): `A_t = V̂(W[0..t]) − V̂(W[0..t−1])`, so
 * `Σ_t A_t = RM(W) − V̂(0)` for every row. This is steps 2–3 of {@linkcode trepoStep}, exported
 * so that the advantages can be inspected on given responses and measured by the theory lab.
 *
 * Used by TRePO. Preconditions: `rewards.length` equals the rollout's rows, a multiple of
 * `groupSize`; every prompt leaves room for `maxTokens` tokens in the policy's context.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Eq. 28 (Theorem 2) and §5 (TRePO).
 *
 * @param source The policy whose continuations estimate the values (through `continueFrom`), or
 *   any {@linkcode ContinuationSampler} with the same contract.
 * @param rollout The responses, `[B, T]` tokens and mask (not disposed).
 * @param rewards RM(W) of each row, length B.
 * @param options G, m, K, the sampling settings, the stream and the scorer.
 * @returns Advantages `[B, T]`, prefix values `[B, T + 1]` and the bookkeeping.
 * @throws {TypeError} When `rewards` is not an array of B numbers.
 * @throws {RangeError} When B is not a multiple of `groupSize`, or m, K, G are out of range
 *   (with G = 1, V̂(0) needs K ≥ 1 continuations of the prompt).
 *
 * @example Values are held at the first token's reward, so all credit goes to token 1
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { Random } from "../random.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { sample } from "../sample/sample.ts";
 * import { disposeRollout } from "../sample/rollout.ts";
 * import { trepoAdvantages } from "./trepo.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 5, dModel: 8, layers: 1, heads: 1, maxLength: 6, seed: 1 });
 * const rollout = await sample(policy, [[1, 2]], { groupSize: 2, maxTokens: 3, eosToken: 0, seed: 2 });
 * const reward = (tokens: number[]) => (tokens[0] === 3 ? 1 : 0); // depends on the first token only
 * const rows = await rollout.tokens.array();
 * const rewards = rows.map(reward);
 * const result = await trepoAdvantages(policy, rollout, rewards, {
 *   groupSize: 2, positions: 3, continuations: 2, maxTokens: 3, eosToken: 0, rng: new Random(3),
 *   scoreCompletions: (_prompts, completions) => Promise.resolve(completions.map(reward)),
 * });
 * const advantages = await result.advantages.array();
 * assertAlmostEquals(advantages[0][0], rewards[0] - rewards[1], 1e-6); // V̂(0): the other response
 * assertAlmostEquals(advantages[0][1] ?? 0, 0, 1e-6);
 * result.advantages.dispose();
 * result.prefixValues.dispose();
 * disposeRollout(rollout);
 * policy.dispose();
 * ```
 */
export async function trepoAdvantages(
  source: Policy | ContinuationSampler,
  rollout: Rollout,
  rewards: readonly number[],
  options: TrepoAdvantageOptions,
): Promise<TrepoAdvantages> {
  const context = "Cannot compute TRePO advantages";
  const [rows, width] = checkRollout(context, rollout);
  const G = checkInteger(context, "groupSize", options.groupSize, 1);
  const m = checkInteger(context, "positions", options.positions, 0);
  if (G === 1 && typeof options.continuations === "number" && options.continuations < 1) {
    throw new RangeError(
      `${context}: with groupSize 1 the prompt value V̂(0) comes from continuations of the prompt, so continuations must be at least 1, got ${options.continuations}`,
    );
  }
  const K = checkInteger(context, "continuations", options.continuations, 1);
  if (!Array.isArray(rewards) || rewards.length !== rows) {
    throw new TypeError(
      `${context}: rewards must hold one number per rollout row (${rows}), got ${
        describe(rewards)
      }`,
    );
  }
  checkFiniteValues(context, "rewards", rewards);
  if (rows % G !== 0) {
    throw new RangeError(
      `${context}: the rollout's ${rows} rows are not a multiple of groupSize ${G}`,
    );
  }
  const positions = rollout.lengths.map((n) => samplePrefixPositions(n, m, options.rng));
  // Continued prefixes: the interior positions of every row, then (G = 1) every bare prompt.
  const prefixes: Prefix[] = positions.flatMap((p, row) =>
    p.slice(1, -1).map((position) => ({ row, position }))
  );
  const interiorCount = prefixes.length;
  if (G === 1) {
    for (let row = 0; row < rows; row++) prefixes.push({ row, position: 0 });
  }
  let estimates: number[] = [];
  let continuationTokens = 0;
  let continuationSeconds = 0;
  if (prefixes.length > 0) {
    const continued = performance.now();
    const sampler: ContinuationSampler = typeof source === "function"
      ? source
      : (r, p, o) => continueFrom(source, r, p, o);
    const result = await sampler(rollout, prefixes, {
      samples: K,
      maxTokens: options.maxTokens,
      temperature: options.temperature ?? 1,
      eosToken: options.eosToken,
      ...(options.stopTokens === undefined ? {} : { stopTokens: options.stopTokens }),
      rng: options.rng,
    });
    continuationSeconds = secondsSince(continued);
    continuationTokens = result.generatedTokens;
    const scores = await options.scoreCompletions(
      prefixes.flatMap(({ row }) => Array.from({ length: K }, () => rollout.promptTokens[row])),
      result.completions,
    );
    estimates = prefixes.map((_, i) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += scores[i * K + k];
      return s / K;
    });
  }
  const table = new Float32Array(rows * (width + 1));
  let next = 0;
  for (let row = 0; row < rows; row++) {
    const p = positions[row];
    const promptValue = G === 1
      ? estimates[interiorCount + row]
      : leaveOneOutMean(rewards, Math.floor(row / G) * G, G, row);
    const values = p.map((_, k) =>
      k === 0 ? promptValue : k === p.length - 1 ? rewards[row] : estimates[next++]
    );
    const length = rollout.lengths[row];
    const line = interpolatePrefixValues(p, values, length);
    for (let t = 0; t <= width; t++) {
      table[row * (width + 1) + t] = line[Math.min(t, length)];
    }
  }
  const prefixValues = tf.tensor2d(table, [rows, width + 1]);
  try {
    const advantages = prefixValueAdvantages(prefixValues, rollout.mask);
    return {
      advantages,
      prefixValues,
      positions,
      prefixes: prefixes.length,
      continuationTokens,
      continuationSeconds,
    };
  } catch (error) {
    prefixValues.dispose();
    throw error;
  }
}

/** The mean of `rewards[start .. start + G)` without `rewards[self]`, G ≥ 2. */
function leaveOneOutMean(
  rewards: readonly number[],
  start: number,
  G: number,
  self: number,
): number {
  let total = 0;
  for (let j = start; j < start + G; j++) if (j !== self) total += rewards[j];
  return total / (G - 1);
}

/**
 * One TRePO step.
 *
 * `V̂(p) = (1/K) Σ_k RM(W[0..p] ⊕ y_k)` at the drawn positions, `V̂(0)` the mean reward of the
 * group's other responses (of K prompt continuations when G = 1), `V̂(L) = RM(W)`, linear in
 * between; `A_t = V̂(t+1) − V̂(t)` (column t of `prefixValues` is the
 * prompt plus the first t tokens); `ℓ_t = max(−A_t ρ_t, −A_t clip(ρ_t, 1±ε)) + β k3`.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Eq. 28 (Theorem 2) and §5 (TRePO).
 *
 * @param state Policy, reference, optimizer, random stream, config.
 * @param batch The prompts and the reward functions.
 * @returns The step's metrics; `tokens/generated` includes the continuations.
 */
export async function trepoStep(
  state: StepState<TrepoConfig>,
  batch: StepBatch,
): Promise<StepMetrics> {
  const { config, policy } = state;
  const G = config.groupSize;
  const clock = phaseClock();
  // 1. Sample: G responses per prompt.
  const rollout = await clock.time("sample", () => sampleResponses(state, batch));
  const owned: tf.Tensor[] = [];
  try {
    // 2. Score: one reward per response.
    const scored = await clock.time("score", () => scoreRollout(state, rollout, batch));
    owned.push(scored.rewards);
    // 3. Advantage (constants, outside the gradient): K continuations from m random prefixes of
    // each response, scored; the prefix values interpolated and differenced. The continuations
    // come from the same sampler as the responses (a server, when remote); their sampling and
    // scoring are timed as such.
    const sampler = state.sampler ?? localSampler;
    const continuations: ContinuationSampler = (r, p, o) =>
      clock.time("sample", () => sampler.continueFrom(policy, r, p, o));
    const { estimated, nonzeroFraction, inEqualGroups } = await clock.time(
      "advantage",
      async () => {
        const estimated = await trepoAdvantages(continuations, rollout, scored.values, {
          groupSize: G,
          positions: config.positions,
          continuations: config.continuations,
          maxTokens: batch.maxTokens,
          temperature: config.temperature,
          ...responseEnd(batch.tokenizer),
          rng: state.rng,
          scoreCompletions: (promptTokens, completions) =>
            clock.time("score", () => scoreCompletions(state, batch, promptTokens, completions)),
        });
        owned.push(estimated.prefixValues, estimated.advantages);
        const nonzero = tf.tidy(() =>
          tf.cast(tf.notEqual(estimated.advantages, 0), "float32") as tf.Tensor2D
        );
        owned.push(nonzero);
        return {
          estimated,
          nonzeroFraction: await maskedMean(nonzero, rollout.mask),
          inEqualGroups: await nonzeroInEqualGroups(nonzero, rollout.mask, scored.values, G),
        };
      },
    );
    const { advantages, prefixes, continuationTokens } = estimated;
    const refLogProbs = await clock.time("reference", () => referenceLogProbs(state, rollout));
    if (refLogProbs !== undefined) owned.push(refLogProbs);
    // 4. Loss and update: trepo.policyLoss, PPO's clipped surrogate on per-token advantages
    //    (+ β·k3 KL).
    const update = await clock.time("train", () =>
      updatePolicy(
        state,
        rollout,
        { advantages, refLogProbs },
        trepo.policyLoss(config),
        batch.maxTokens,
      ));
    return {
      ...rewardMetrics(scored, G),
      ...(await rolloutMetrics(rollout, refLogProbs)),
      ...update,
      "adv/nonzero_fraction": nonzeroFraction,
      // The paper's point: inside a group whose rewards are all equal GRPO's advantage is 0,
      // while TRePO's per-token values can still be non-zero. Absent when no group was.
      ...(inEqualGroups === undefined ? {} : { "adv/nonzero_in_equal_groups": inEqualGroups }),
      "trepo/prefixes": prefixes,
      "trepo/continuation_tokens": continuationTokens,
      "tokens/generated": rollout.lengths.reduce((a, b) => a + b, 0) + continuationTokens,
      ...clock.metrics(),
    };
  } finally {
    tf.dispose(owned);
    disposeRollout(rollout);
  }
}

/**
 * Rewards of full responses given as token arrays (continuations), scored by the batch's reward
 * functions through `score` on a rollout built from them.
 */
async function scoreCompletions(
  state: StepState,
  batch: StepBatch,
  promptTokens: number[][],
  completions: number[][],
): Promise<number[]> {
  const zeros = completions.map((c) => c.map(() => 0));
  const rollout = makeRollout(promptTokens, completions, zeros, batch.tokenizer.eos, 1);
  try {
    const scored = await scoreRollout(state, rollout, batch);
    scored.rewards.dispose();
    return scored.values;
  } finally {
    disposeRollout(rollout);
  }
}

/**
 * The fraction of valid tokens with a non-zero advantage among the responses whose group's
 * rewards are all equal (`undefined` when no group of two or more is): the signal GRPO and RLOO
 * lack there.
 */
async function nonzeroInEqualGroups(
  nonzero: tf.Tensor2D,
  mask: tf.Tensor2D,
  rewards: readonly number[],
  groupSize: number,
): Promise<number | undefined> {
  if (groupSize < 2) return undefined;
  const [flags, valid] = await Promise.all([nonzero.data(), mask.data()]);
  const columns = nonzero.shape[1];
  let count = 0;
  let total = 0;
  for (let g = 0; g * groupSize < rewards.length; g++) {
    const group = rewards.slice(g * groupSize, (g + 1) * groupSize);
    if (group.some((r) => r !== group[0])) continue;
    for (let row = g * groupSize; row < (g + 1) * groupSize; row++) {
      for (let t = 0; t < columns; t++) {
        total += valid[row * columns + t];
        count += valid[row * columns + t] * flags[row * columns + t];
      }
    }
  }
  return total === 0 ? undefined : count / total;
}

/** TRePO as `train` runs it. */
export const trepo: Algorithm<TrepoConfig> = Object.freeze(
  {
    name: "trepo",
    defaultConfig: defaultTrepoConfig,
    configSpec: {
      ...RL_CONFIG_SPEC,
      positions: { kind: "integer", min: 0 },
      continuations: { kind: "integer", min: 1 },
    },
    step: trepoStep,
    policyLoss: clippedPolicyLoss,
    usesValueModel: false,
    minGroupSize: 1,
  } as const,
);
