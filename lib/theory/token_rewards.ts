/**
 * Hidden token-level rewards `r(W[0..t−1], w_t)` and the response-level reward they induce,
 * `RM(W) = Σ_t γ^(t−1) r_t` — the premise of the paper's Theorem 1.
 *
 * @module
 */
import { Random } from "../random.ts";
import { checkNumber, describe } from "../validate.ts";
import type { ResponseSpace } from "./enumerate_responses.ts";

/** Token rewards on every (context, token) pair of a space, and the discount that sums them. */
export interface TokenRewards {
  /** The discount γ of `RM(W) = Σ_t γ^(t−1) r_t`. */
  readonly gamma: number;
  /** `S × V` row-major: `r(s, a)`. */
  readonly values: Float64Array;
  /** `[S]`: the discounted reward already collected on the way to each context. */
  readonly prefixRewards: Float64Array;
}

/** Options of {@linkcode drawTokenRewards}. */
export interface DrawTokenRewardsOptions {
  /** Seed of the draw. */
  seed: number;
  /** Discount γ ∈ [0, 1] of the response-level reward (default 1). */
  gamma?: number;
  /**
   * Standard deviation of the rewards of each prompt (default 1 for every prompt); prompts with
   * different spreads make per-prompt rescaling (GRPO's std division) visible.
   */
  scales?: readonly number[];
}

/**
 * Draw hidden token rewards `r(s, a) ~ N(0, scale_p²)` for every context `s` (of prompt `p`) and
 * token `a`, from a seed.
 *
 * @see He et al., arXiv 2506.02553, Theorem 1: `RM(W) = Σ_t γ^(t−1) r(W[0..t−1], w_t)`.
 * @param space The enumerated space.
 * @param options Seed, discount and per-prompt scales.
 * @returns The token rewards.
 * @throws {TypeError} When `scales` is not an array of one number per prompt.
 * @throws {RangeError} When γ is outside [0, 1] or a scale is negative.
 *
 * @example The same seed gives the same rewards
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { drawTokenRewards } from "./token_rewards.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
 * const a = drawTokenRewards(space, { seed: 7, gamma: 0.9 });
 * const b = drawTokenRewards(space, { seed: 7, gamma: 0.9 });
 * assertEquals(Array.from(a.values), Array.from(b.values));
 * ```
 */
export function drawTokenRewards(
  space: ResponseSpace,
  options: DrawTokenRewardsOptions,
): TokenRewards {
  const context = "Cannot draw token rewards";
  const { seed, gamma = 1, scales } = options ?? {};
  checkNumber(context, "seed", seed);
  checkNumber(context, "gamma", gamma, { min: 0, max: 1 });
  const P = space.prompts.length;
  if (scales !== undefined && (!Array.isArray(scales) || scales.length !== P)) {
    throw new TypeError(
      `${context}: scales must be an array of one number per prompt (${P}), got ${
        describe(scales)
      }`,
    );
  }
  const scaleOf = scales ?? new Array(P).fill(1);
  scaleOf.forEach((s, i) => checkNumber(context, `scales[${i}]`, s, { min: 0 }));
  const rng = new Random(seed);
  const V = space.vocabSize;
  const values = new Float64Array(space.contexts.length * V);
  space.contexts.forEach((c, s) => {
    for (let a = 0; a < V; a++) values[s * V + a] = scaleOf[c.promptIndex] * rng.normal();
  });
  const prefixRewards = new Float64Array(space.contexts.length);
  space.contexts.forEach((_, s) => {
    for (let a = 0; a < V; a++) {
      const child = space.children[s * V + a];
      if (child >= 0) {
        prefixRewards[child] = prefixRewards[s] +
          gamma ** space.contexts[s].prefix.length * values[s * V + a];
      }
    }
  });
  return { gamma, values, prefixRewards };
}

/**
 * The response-level reward of a path, `RM(W) = Σ_t γ^(t−1) r(W[0..t−1], w_t)`.
 *
 * Each step is discounted by the depth of its context, so for a continuation that starts at a
 * context `s` this is the reward collected after `s`; add `prefixRewards[s]` for the whole `RM`.
 *
 * @param space The enumerated space.
 * @param rewards The token rewards.
 * @param path A complete response's tokens and contexts.
 * @returns `RM(W)`.
 *
 * @example
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { responseReward, type TokenRewards } from "./token_rewards.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 2, prompts: [[0]] });
 * // contexts: 0 = root, 1 = after token 0
 * const rewards: TokenRewards = {
 *   gamma: 0.5,
 *   values: Float64Array.from([2, 0, 4, 8]),
 *   prefixRewards: Float64Array.from([0, 2]),
 * };
 * assertAlmostEquals(responseReward(space, rewards, { tokens: [0, 1], contexts: [0, 1] }), 2 + 0.5 * 8);
 * ```
 */
export function responseReward(
  space: ResponseSpace,
  rewards: TokenRewards,
  path: { readonly tokens: readonly number[]; readonly contexts: readonly number[] },
): number {
  const V = space.vocabSize;
  let total = 0;
  for (let t = 0; t < path.tokens.length; t++) {
    const s = path.contexts[t];
    total += rewards.gamma ** space.contexts[s].prefix.length *
      rewards.values[s * V + path.tokens[t]];
  }
  return total;
}

/**
 * The discounted token-level reward-to-go of each step,
 * `G_t = Σ_{k≥t} γ^(k−t) r_k`, for a complete response (1-based t as in the paper).
 *
 * With `γ^(t−1) G_t` as the weight of `∇log π(w_t | …)` this is REINFORCE on the true token
 * rewards (Lemma 1's Monte-Carlo form).
 *
 * @param space The enumerated space.
 * @param rewards The token rewards.
 * @param path A complete response.
 * @returns `[T]` reward-to-go values.
 *
 * @example
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { rewardToGo, type TokenRewards } from "./token_rewards.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 2, prompts: [[0]] });
 * const rewards: TokenRewards = {
 *   gamma: 0.5,
 *   values: Float64Array.from([2, 0, 4, 8]),
 *   prefixRewards: Float64Array.from([0, 2]),
 * };
 * assertEquals(rewardToGo(space, rewards, { tokens: [0, 1], contexts: [0, 1] }), [2 + 0.5 * 8, 8]);
 * ```
 */
export function rewardToGo(
  space: ResponseSpace,
  rewards: TokenRewards,
  path: { readonly tokens: readonly number[]; readonly contexts: readonly number[] },
): number[] {
  const V = space.vocabSize;
  const T = path.tokens.length;
  const out = new Array<number>(T);
  let acc = 0;
  for (let t = T - 1; t >= 0; t--) {
    acc = rewards.values[path.contexts[t] * V + path.tokens[t]] + rewards.gamma * acc;
    out[t] = acc;
  }
  return out;
}
