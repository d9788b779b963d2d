/**
 * Scoring a rollout: decode every response and combine named response-level reward functions.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkRollout, type Rollout } from "../sample/rollout.ts";
import type { Tokenizer } from "../tasks/task.ts";
import { checkNumber, checkOneOf, describe } from "../validate.ts";

/**
 * A response-level reward `RM(W)`: a number for a decoded prompt and completion (EOS stripped).
 * May be synchronous or asynchronous; must return a finite number.
 */
export type RewardFn = (prompt: string, completion: string) => number | Promise<number>;

/** Options of {@linkcode score}. */
export interface ScoreOptions {
  /** Weight of each named reward function (default 1 for every name left out). */
  weights?: Record<string, number>;
}

/** Result of {@linkcode score}. */
export interface ScoreResult {
  /** The combined reward of each row, float32 `[B]`. */
  rewards: tf.Tensor1D;
  /** The same combined rewards as plain numbers (length `B`). */
  values: number[];
  /**
   * `rewards/<name>/mean` (unweighted mean of each function), `reward/mean` and `reward/std`
   * (population standard deviation) of the combined reward.
   */
  metrics: Record<string, number>;
  /** The decoded prompt of each row, as the reward functions saw it (length `B`). */
  prompts: string[];
  /** The decoded completion of each row (EOS stripped), as the reward functions saw it. */
  completions: string[];
}

/**
 * Score every response of a rollout with a weighted sum of named reward functions.
 *
 * `RM(Wᵦ) = Σₖ wₖ · fₖ(prompt_b, completion_b)`
 *
 * Each row's response is decoded with the task tokenizer (`decode` stops at EOS, which is not part
 * of the completion) and its prompt with `decode(promptTokens[row])`. Every function is called for
 * every row (synchronous and asynchronous functions alike, all started before any is awaited).
 * When a function throws or returns anything but a finite number, `score` rejects with an error
 * that names the function, the row, the prompt and the completion, and returns nothing.
 *
 * The paper's setting: the only feedback is this response-level score `RM(W)`, placed on the last
 * token under the Zero-Reward Assumption.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Section 2 (arXiv 2506.02553).
 *
 * Used by every algorithm (PPO, GRPO, ReMax, RLOO, REINFORCE, TRePO) in step 2 of its recipe.
 *
 * Preconditions: `rollout.tokens` int32 `[B, T]`, one prompt and one length in `[0, T]` per row;
 * at least one reward function; weights only for named functions.
 *
 * @param rollout The sampled responses (`B` rows); only read, not disposed.
 * @param tokenizer The task's tokenizer.
 * @param rewardFns The reward functions by name; the names appear in the metrics.
 * @param options Weights per name (default 1).
 * @returns The combined rewards `[B]` as a tensor and as numbers, and metrics.
 * @throws {TypeError} When the rollout is malformed, a reward function is not a function, a
 * weight is not a finite number, or a function returns a non-number.
 * @throws {RangeError} When there is no reward function, a weight names no function, or a
 * function returns NaN or ±Infinity.
 * @throws {Error} When a reward function throws (the original error is the `cause`).
 *
 * @example Two reward functions, one asynchronous
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { type RewardFn, score, type ScoreOptions, type ScoreResult } from "./score.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * // Token 0 is EOS; tokens 1, 2, 3 are "a", "b", "=".
 * const vocab = ["<eos>", "a", "b", "="];
 * const tokenizer = {
 *   vocab, vocabSize: 4, eos: 0,
 *   encode: (text: string) => Array.from(text, (c) => vocab.indexOf(c)),
 *   decode: (ids: readonly number[]) => {
 *     const end = ids.indexOf(0);
 *     return (end < 0 ? ids : ids.slice(0, end)).map((i) => vocab[i] ?? "\uFFFD").join("");
 *   },
 * };
 * const rollout = {
 *   promptTokens: [[1, 3], [1, 3]], groupSize: 2, lengths: [2, 3],
 *   tokens: tf.tensor2d([[1, 0, 0], [2, 1, 0]], [2, 3], "int32"),
 *   mask: tf.tensor2d([[1, 1, 0], [1, 1, 1]]),
 *   logProbs: tf.zeros([2, 3]) as tf.Tensor2D,
 * };
 * const exact: RewardFn = (_prompt, completion) => completion === "a" ? 1 : 0;
 * const short: RewardFn = async (_prompt, completion) => await Promise.resolve(-completion.length);
 * const options: ScoreOptions = { weights: { short: 0.5 } };
 * const result: ScoreResult = await score(rollout, tokenizer, { exact, short }, options);
 * // Row 0: "a" → 1 + 0.5·(−1) = 0.5; row 1: "ba" → 0 + 0.5·(−2) = −1.
 * assertEquals(result.values, [0.5, -1]);
 * assertEquals(result.metrics["rewards/exact/mean"], 0.5);
 * assertEquals(result.metrics["reward/mean"], -0.25);
 * tf.dispose([rollout.tokens, rollout.mask, rollout.logProbs, result.rewards]);
 * ```
 */
export async function score(
  rollout: Rollout,
  tokenizer: Tokenizer,
  rewardFns: Record<string, RewardFn>,
  options: ScoreOptions = {},
): Promise<ScoreResult> {
  const context = "Cannot score rollout";
  const [rows, columns] = checkRollout(context, rollout);
  const lengths = rollout.lengths;
  if (!Array.isArray(lengths) || lengths.length !== rows) {
    throw new TypeError(
      `${context}: rollout.lengths must hold one length per row (${rows}), got ${
        describe(lengths)
      }`,
    );
  }
  lengths.forEach((length, row) => {
    if (!Number.isInteger(length) || length < 0 || length > columns) {
      throw new RangeError(
        `${context}: rollout.lengths must be integers in [0, ${columns}], got ${
          describe(length)
        } at index ${row}`,
      );
    }
  });
  if (typeof tokenizer?.decode !== "function") {
    throw new TypeError(`${context}: tokenizer must be a Tokenizer, got ${describe(tokenizer)}`);
  }
  if (typeof rewardFns !== "object" || rewardFns === null) {
    throw new TypeError(`${context}: rewardFns must be an object, got ${describe(rewardFns)}`);
  }
  const names = Object.keys(rewardFns);
  if (names.length === 0) {
    throw new RangeError(`${context}: rewardFns must name at least one reward function, got none`);
  }
  for (const name of names) {
    if (typeof rewardFns[name] !== "function") {
      throw new TypeError(
        `${context}: rewardFns.${name} must be a function, got ${describe(rewardFns[name])}`,
      );
    }
  }
  const weights = options?.weights ?? {};
  for (const [name, weight] of Object.entries(weights)) {
    checkOneOf(context, "reward weight", name, names);
    checkNumber(context, `weights.${name}`, weight);
  }

  const tokens = await rollout.tokens.array();
  const prompts = rollout.promptTokens.map((ids) => tokenizer.decode(ids));
  const completions = tokens.map((ids, row) => tokenizer.decode(ids.slice(0, lengths[row])));
  const pending = names.map((name) =>
    prompts.map((prompt, row) =>
      Promise.resolve().then(() => rewardFns[name](prompt, completions[row]))
    )
  );
  const settled = await Promise.all(pending.map((calls) => Promise.allSettled(calls)));

  const perFunction: number[][] = names.map(() => new Array<number>(rows));
  for (let row = 0; row < rows; row++) {
    names.forEach((name, k) => {
      const where = `for row ${row} (prompt ${quote(prompts[row])}, completion ${
        quote(completions[row])
      })`;
      const outcome = settled[k][row];
      if (outcome.status === "rejected") {
        const reason = outcome.reason instanceof Error
          ? outcome.reason.message
          : String(outcome.reason);
        throw new Error(`${context}: reward function "${name}" threw ${where}: ${reason}`, {
          cause: outcome.reason,
        });
      }
      const value: unknown = outcome.value;
      if (typeof value !== "number") {
        throw new TypeError(
          `${context}: reward function "${name}" must return a finite number, got ${
            describe(value)
          } ${where}`,
        );
      }
      if (!Number.isFinite(value)) {
        throw new RangeError(
          `${context}: reward function "${name}" must return a finite number, got ${value} ${where}`,
        );
      }
      perFunction[k][row] = value;
    });
  }

  const values = new Array<number>(rows).fill(0);
  const metrics: Record<string, number> = {};
  names.forEach((name, k) => {
    const weight = weights[name] ?? 1;
    for (let row = 0; row < rows; row++) values[row] += weight * perFunction[k][row];
    metrics[`rewards/${name}/mean`] = mean(perFunction[k]);
  });
  const average = mean(values);
  metrics["reward/mean"] = average;
  metrics["reward/std"] = Math.sqrt(mean(values.map((v) => (v - average) ** 2)));
  return { rewards: tf.tensor1d(values), values, metrics, prompts, completions };
}

function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let total = 0;
  for (const x of xs) total += x;
  return total / xs.length;
}

/** JSON-quote a string for an error message, shortened to 200 characters. */
function quote(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.length > 200 ? `${quoted.slice(0, 199)}…` : quoted;
}
