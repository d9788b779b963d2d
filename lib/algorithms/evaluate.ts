/**
 * Greedy evaluation of a policy on a task's fixed evaluation set.
 *
 * @module
 */
import type { Policy } from "../policy/transformer.ts";
import { greedy } from "../sample/greedy.ts";
import { disposeRollout } from "../sample/rollout.ts";
import type { Task } from "../tasks/task.ts";
import { responseEnd } from "./rollout.ts";
import { checkInteger, describe } from "../validate.ts";

/** Options of {@linkcode evaluateAccuracy}. */
export interface EvaluateOptions {
  /** Maximum response length, EOS included (default `task.maxResponseTokens`). */
  maxTokens?: number;
  /** Evaluate only the first `limit` examples of the evaluation set (default: all). */
  limit?: number;
  /** Prompts decoded per greedy call (default 100). */
  batchSize?: number;
}

/** The result of {@linkcode evaluateAccuracy}. */
export interface EvaluateResult {
  /** Fraction of examples whose greedy completion has reward exactly 1. */
  accuracy: number;
  /** Mean reward of the greedy completions. */
  meanReward: number;
  /** Number of examples evaluated. */
  n: number;
  /** The greedy completions (decoded, EOS stripped), in evaluation-set order. */
  completions: string[];
  /** The reward of each completion. */
  rewards: number[];
}

/**
 * Greedy accuracy and mean reward of a policy on a task's evaluation set.
 *
 * `accuracy = (1/n) Σᵢ 𝟙[RM(xᵢ, ŷᵢ) = 1]`, `meanReward = (1/n) Σᵢ RM(xᵢ, ŷᵢ)`, where `ŷᵢ` is the
 * greedy (argmax) completion of prompt `xᵢ`, decoded up to its first EOS.
 *
 * Used by the training loop of every algorithm (PPO, GRPO, ReMax, RLOO, TRePO) and by the
 * supervised warm start to report progress.
 *
 * Preconditions: the policy's vocabulary is the task tokenizer's; prompt length + `maxTokens`
 * ≤ `policy.config.maxLength`.
 *
 * @param policy The policy to evaluate (not modified).
 * @param task The task whose `evalSet` and `reward` are used.
 * @param options `maxTokens`, `limit` and `batchSize`.
 * @returns Accuracy, mean reward, the number of examples and every completion with its reward.
 * @throws {TypeError|RangeError} For invalid options or a policy whose vocabulary does not match.
 *
 * @example An untrained policy is evaluated on three examples
 * ```ts
 * import { evaluateAccuracy } from "./evaluate.ts";
 * import { addition } from "../tasks/addition.ts";
 * import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assert, assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy(defaultPolicyConfig(addition));
 * const result = await evaluateAccuracy(policy, addition, { limit: 3 });
 * assertEquals(result.n, 3);
 * assert(result.accuracy >= 0 && result.accuracy <= result.meanReward + 1e-12);
 * policy.dispose();
 * ```
 */
export async function evaluateAccuracy(
  policy: Policy,
  task: Task,
  options: EvaluateOptions = {},
): Promise<EvaluateResult> {
  const context = "Cannot evaluate the policy";
  if (typeof task !== "object" || task === null || !Array.isArray(task.evalSet)) {
    throw new TypeError(`${context}: task must be a Task, got ${describe(task)}`);
  }
  if (typeof policy !== "object" || policy === null || typeof policy.logits !== "function") {
    throw new TypeError(`${context}: policy must be a Policy, got ${describe(policy)}`);
  }
  const { tokenizer } = task;
  if (policy.config.vocabSize !== tokenizer.vocabSize) {
    throw new RangeError(
      `${context}: the policy has vocabSize ${policy.config.vocabSize} but task "${task.name}" has ${tokenizer.vocabSize} tokens`,
    );
  }
  const maxTokens = checkInteger(
    context,
    "maxTokens",
    options.maxTokens ?? task.maxResponseTokens,
    1,
  );
  const limit = checkInteger(context, "limit", options.limit ?? task.evalSet.length, 1);
  const batchSize = checkInteger(context, "batchSize", options.batchSize ?? 100, 1);
  const examples = task.evalSet.slice(0, limit);
  const completions: string[] = [];
  const rewards: number[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const batch = examples.slice(start, start + batchSize);
    const rollout = await greedy(policy, batch.map((e) => tokenizer.encode(e.prompt)), {
      maxTokens,
      ...responseEnd(tokenizer),
    });
    try {
      const [, width] = rollout.tokens.shape;
      const ids = await rollout.tokens.data();
      batch.forEach((example, b) => {
        const row = Array.from(ids.subarray(b * width, b * width + rollout.lengths[b]));
        const completion = tokenizer.decode(row);
        completions.push(completion);
        rewards.push(task.reward(example.prompt, completion));
      });
    } finally {
      disposeRollout(rollout);
    }
  }
  const n = examples.length;
  return {
    accuracy: rewards.filter((r) => r === 1).length / n,
    meanReward: rewards.reduce((s, r) => s + r, 0) / n,
    n,
    completions,
    rewards,
  };
}
