/**
 * The small default transformer for a task.
 *
 * @module
 */
import type { PolicyConfig } from "../policy/transformer.ts";
import { Random } from "../random.ts";
import type { Task } from "./task.ts";

/** Options of {@linkcode defaultPolicyConfig}: any field overrides the default. */
export type DefaultPolicyConfigOptions = Partial<PolicyConfig>;

/**
 * The small default policy for a task: `dModel` 64, 2 layers, 4 heads, seed 0, the task's
 * vocabulary, and `maxLength = longest prompt + maxResponseTokens` (the longest prompt is measured
 * over the evaluation set and 256 drawn training prompts). About 100k parameters.
 *
 * Used by the experiments and the supervised warm start as the default model.
 *
 * @param task The task whose vocabulary and lengths the model must fit.
 * @param overrides Fields that replace the defaults (for example `{ seed: 7 }`).
 * @returns A policy config for `createPolicy`.
 *
 * @example
 * ```ts
 * import { defaultPolicyConfig } from "./default_policy_config.ts";
 * import { addition } from "./addition.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = defaultPolicyConfig(addition);
 * assertEquals(config.vocabSize, 13);
 * assertEquals(config.maxLength, 6 + 4); // "47+85=" then up to "132" and EOS
 * ```
 */
export function defaultPolicyConfig(
  task: Task,
  overrides: DefaultPolicyConfigOptions = {},
): PolicyConfig {
  let longest = 0;
  for (const example of task.evalSet) longest = Math.max(longest, example.prompt.length);
  for (const prompt of task.prompts(new Random(0), 256)) {
    longest = Math.max(longest, prompt.length);
  }
  return {
    vocabSize: task.tokenizer.vocabSize,
    dModel: 64,
    layers: 2,
    heads: 4,
    maxLength: longest + task.maxResponseTokens,
    seed: 0,
    ...overrides,
  };
}
