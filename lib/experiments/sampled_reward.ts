/**
 * The policy's expected reward on a task's evaluation prompts, estimated by sampling: the
 * objective `J` that the RL algorithms maximise (greedy decoding measures something else).
 *
 * @module
 */
import type { Policy } from "../policy/transformer.ts";
import { Random } from "../random.ts";
import { disposeRollout } from "../sample/rollout.ts";
import { sample } from "../sample/sample.ts";
import type { Task } from "../tasks/task.ts";
import { responseEnd } from "../algorithms/rollout.ts";
import { checkInteger, checkNumber, describe } from "../validate.ts";

/** Options of {@linkcode evaluateSampledReward}. */
export interface SampledRewardOptions {
  /** Responses sampled per evaluation prompt, S (default 8). */
  samples?: number;
  /**
   * Seed of the sampling stream (default 0): the same seed and batch size give the same draws
   * (the decoder draws step by step across a batch's rows, so another batch size reorders them).
   */
  seed?: number;
  /** Maximum response length, EOS included (default `task.maxResponseTokens`). */
  maxTokens?: number;
  /** Softmax temperature (default 1, the training temperature of every recipe). */
  temperature?: number;
  /** Evaluate only the first `limit` prompts of the evaluation set (default all). */
  limit?: number;
  /** Rows (prompt × sample) decoded per call (default 256). */
  batchSize?: number;
}

/** The result of {@linkcode evaluateSampledReward}. */
export interface SampledRewardResult {
  /** Mean reward over every prompt and sample. */
  meanReward: number;
  /** Mean response length in tokens (EOS included). */
  meanLength: number;
  /** Prompts evaluated. */
  prompts: number;
  /** Samples per prompt. */
  samples: number;
}

/**
 * Mean sampled reward of a policy on a task's evaluation prompts,
 * `Ĵ = (1/(n·S)) Σᵢ Σₛ RM(xᵢ, yᵢₛ)`, `yᵢₛ ~ π(·|xᵢ)` at the given temperature.
 * For `tokenRewardChain`, whose `RM` is the return divided by the prompt's optimum, `Ĵ` is the
 * expected fraction of the optimum.
 *
 * Used by the comparison's credit variant (`deno task compare`), where rewards are continuous and
 * greedy decoding of a barely trained policy is the same for every prompt.
 *
 * Preconditions: a tfjs backend is initialised; the policy's vocabulary is the task's.
 *
 * @param policy The policy (not modified).
 * @param task The task whose `evalSet` prompts and `reward` are used.
 * @param options Samples per prompt, seed, length cap, temperature, limit, batch size.
 * @returns The mean reward, mean length and counts.
 * @throws {TypeError} For a policy or task of the wrong type.
 * @throws {RangeError} For invalid options.
 *
 * @example An untrained policy's expected reward lies in [0, 1]
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
 * import { tokenRewardChain } from "../tasks/token_reward_chain.ts";
 * import { evaluateSampledReward } from "./sampled_reward.ts";
 * import { assert, assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy(defaultPolicyConfig(tokenRewardChain));
 * const a = await evaluateSampledReward(policy, tokenRewardChain, { samples: 2, limit: 3, seed: 7 });
 * const b = await evaluateSampledReward(policy, tokenRewardChain, { samples: 2, limit: 3, seed: 7 });
 * assertEquals([a.prompts, a.samples], [3, 2]);
 * assert(a.meanReward >= 0 && a.meanReward <= 1);
 * assertEquals(a.meanReward, b.meanReward); // same seed, same draws
 * policy.dispose();
 * ```
 */
export async function evaluateSampledReward(
  policy: Policy,
  task: Task,
  options: SampledRewardOptions = {},
): Promise<SampledRewardResult> {
  const context = "Cannot estimate the sampled reward";
  if (typeof task !== "object" || task === null || !Array.isArray(task.evalSet)) {
    throw new TypeError(`${context}: task must be a Task, got ${describe(task)}`);
  }
  if (typeof policy !== "object" || policy === null || typeof policy.logits !== "function") {
    throw new TypeError(`${context}: policy must be a Policy, got ${describe(policy)}`);
  }
  const samples = checkInteger(context, "samples", options.samples ?? 8, 1);
  const seed = checkNumber(context, "seed", options.seed ?? 0);
  const maxTokens = checkInteger(context, "maxTokens", options.maxTokens ?? task.maxResponseTokens);
  const temperature = checkNumber(context, "temperature", options.temperature ?? 1, {
    min: 0,
    exclusiveMin: true,
  });
  const limit = checkInteger(context, "limit", options.limit ?? task.evalSet.length, 1);
  const batchSize = checkInteger(context, "batchSize", options.batchSize ?? 256, 1);
  const prompts = task.evalSet.slice(0, limit).map((e) => e.prompt);
  const { tokenizer } = task;
  const rng = new Random(seed);
  const perCall = Math.max(1, Math.floor(batchSize / samples));
  let reward = 0;
  let length = 0;
  for (let start = 0; start < prompts.length; start += perCall) {
    const batch = prompts.slice(start, start + perCall);
    const rollout = await sample(policy, batch.map((p) => tokenizer.encode(p)), {
      groupSize: samples,
      maxTokens,
      temperature,
      ...responseEnd(tokenizer),
      rng,
    });
    try {
      const [, width] = rollout.tokens.shape;
      const ids = await rollout.tokens.data();
      rollout.lengths.forEach((n, row) => {
        const tokens = Array.from(ids.subarray(row * width, row * width + n));
        reward += task.reward(batch[Math.floor(row / samples)], tokenizer.decode(tokens));
        length += n;
      });
    } finally {
      disposeRollout(rollout);
    }
  }
  const rows = prompts.length * samples;
  return { meanReward: reward / rows, meanLength: length / rows, prompts: prompts.length, samples };
}
