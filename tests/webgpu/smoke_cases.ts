/**
 * What the webgpu smoke run computes, shared by the webgpu subprocess (`smoke.ts`) and the wasm
 * side of `webgpu_smoke_test.ts`. Every read is `await t.data()` (a synchronous read throws on
 * tfjs-webgpu in Deno).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { createPolicy, type Policy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { loadCheckpoint } from "../../lib/policy/checkpoint.ts";
import { sample } from "../../lib/sample/sample.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import type { Rollout } from "../../lib/sample/rollout.ts";
import { ALGORITHM_NAMES, train } from "../../lib/algorithms/train.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { drawTokenRewards } from "../../lib/theory/token_rewards.ts";
import { transformerSequencePolicy } from "../../lib/theory/transformer_policy.ts";
import { leaveOneOutEstimator, prefixValueEstimator } from "../../lib/theory/estimators.ts";
import { asShippedEstimators } from "../../lib/theory/as_shipped.ts";
import { runTheoremCheck } from "../../lib/theory/theorem_check.ts";

/** A tiny policy: vocabulary 13, width 16, 2 layers, 2 heads. */
export const SMOKE_CONFIG: PolicyConfig = {
  vocabSize: 13,
  dModel: 16,
  layers: 2,
  heads: 2,
  maxLength: 16,
  seed: 3,
};

/** The token batch of the forward check, `[2, 6]`. */
export const SMOKE_TOKENS: number[][] = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]];

/** Logits and the gradient of `Σ logits · w` (w a fixed pattern) for every weight. */
export interface ForwardResult {
  logits: number[];
  gradients: Record<string, number[]>;
}

/** Logits and gradients of the tiny policy on {@linkcode SMOKE_TOKENS}. */
export async function smokeForward(): Promise<ForwardResult> {
  const policy = createPolicy(SMOKE_CONFIG);
  const tokens = tf.tensor2d(SMOKE_TOKENS, undefined, "int32");
  try {
    const logits = tf.tidy(() => policy.logits(tokens));
    const { grads, value } = tf.variableGrads(() => {
      const out = policy.logits(tokens);
      const pattern = tf.sin(tf.range(0, out.size).reshape(out.shape));
      return tf.sum(tf.mul(out, pattern)) as tf.Scalar;
    });
    const gradients: Record<string, number[]> = {};
    for (const [name, v] of policy.weights) {
      gradients[name] = Array.from(await grads[v.name].data());
    }
    const result = { logits: Array.from(await logits.data()) };
    tf.dispose([logits, value, ...Object.values(grads)]);
    return { ...result, gradients };
  } finally {
    tokens.dispose();
    policy.dispose();
  }
}

/** A rollout read back to the host. */
export interface HostRollout {
  promptTokens: number[][];
  tokens: number[][];
  mask: number[][];
  logProbs: number[][];
  lengths: number[];
  groupSize: number;
}

async function toHost(r: Rollout): Promise<HostRollout> {
  const [tokens, mask, logProbs] = await Promise.all([
    r.tokens.array(),
    r.mask.array(),
    r.logProbs.array(),
  ]);
  return {
    promptTokens: r.promptTokens,
    tokens,
    mask,
    logProbs,
    lengths: r.lengths,
    groupSize: r.groupSize,
  };
}

/** A host rollout as tensors again (for `tokenLogProbs` on another backend). */
export function fromHost(r: HostRollout): Rollout {
  return {
    promptTokens: r.promptTokens,
    tokens: tf.tensor2d(r.tokens, undefined, "int32"),
    mask: tf.tensor2d(r.mask),
    logProbs: tf.tensor2d(r.logProbs),
    lengths: r.lengths,
    groupSize: r.groupSize,
  };
}

/** What the sampling check returns. */
export interface SamplingResult {
  sampled: HostRollout;
  greedy: HostRollout;
  /** `tokenLogProbs` of the sampled rollout, recomputed by teacher forcing. */
  recomputed: number[][];
}

/** Sample, decode greedily and recompute the sampled tokens' log-probs with the tiny policy. */
export async function smokeSampling(): Promise<SamplingResult> {
  const policy = createPolicy(SMOKE_CONFIG);
  const prompts = [[1, 2, 3], [4, 5]];
  const sampled = await sample(policy, prompts, {
    groupSize: 2,
    maxTokens: 5,
    eosToken: 0,
    seed: 11,
  });
  const best = await greedy(policy, prompts, { maxTokens: 5, eosToken: 0 });
  const recomputed = tf.tidy(() => tokenLogProbs(policy, sampled));
  const result = {
    sampled: await toHost(sampled),
    greedy: await toHost(best),
    recomputed: await recomputed.array(),
  };
  tf.dispose([sampled.tokens, sampled.mask, sampled.logProbs, recomputed]);
  tf.dispose([best.tokens, best.mask, best.logProbs]);
  policy.dispose();
  return result;
}

/** Per algorithm: its step metrics, and whether the saved checkpoint reloads the same weights. */
export interface TrainResultSummary {
  metrics: Record<string, number>[];
  checkpointMatches: boolean;
  seconds: number;
}

/** Tiny configs: 2 prompts, 2 responses each, 4 tokens. */
export const SMOKE_TRAIN_CONFIGS: Record<string, Record<string, unknown>> = {
  ppo: { promptsPerStep: 2, maxTokens: 4, epochs: 2, minibatches: 2 },
  grpo: { promptsPerStep: 2, maxTokens: 4, groupSize: 2, epochs: 2, minibatches: 2 },
  dr_grpo: { promptsPerStep: 2, maxTokens: 4, groupSize: 2 },
  remax: { promptsPerStep: 2, maxTokens: 4, groupSize: 2 },
  rloo: { promptsPerStep: 2, maxTokens: 4, groupSize: 2 },
  reinforce: { promptsPerStep: 2, maxTokens: 4, groupSize: 2 },
  trepo: { promptsPerStep: 2, maxTokens: 4, groupSize: 2, positions: 2, continuations: 2 },
};

async function weightsOf(policy: Policy): Promise<number[][]> {
  return await Promise.all(
    [...policy.weights.values()].map(async (w) => Array.from(await w.data())),
  );
}

/** Two steps of every recipe through `train()`, each with a checkpoint saved and loaded back. */
export async function smokeTrain(
  progress: (name: string) => void = () => {},
): Promise<Record<string, TrainResultSummary>> {
  const out: Record<string, TrainResultSummary> = {};
  for (const algorithm of ALGORITHM_NAMES) {
    const started = performance.now();
    const dir = await Deno.makeTempDir({ prefix: `trepo-smoke-${algorithm}-` });
    const policy = createPolicy(
      defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 4 }),
    );
    const metrics: Record<string, number>[] = [];
    try {
      const result = await train({
        algorithm,
        config: SMOKE_TRAIN_CONFIGS[algorithm],
        task: "addition",
        policy,
        steps: 2,
        seed: 5,
        evalEvery: 2,
        evalLimit: 4,
        outDir: dir,
        onStep: (record) => {
          metrics.push(record as unknown as Record<string, number>);
        },
      });
      result.valueModel?.dispose();
      const loaded = await loadCheckpoint(`${dir}/checkpoint`);
      const [a, b] = [await weightsOf(policy), await weightsOf(loaded.policy)];
      const checkpointMatches = a.length === b.length &&
        a.every((w, i) => w.length === b[i].length && w.every((x, j) => x === b[i][j]));
      loaded.policy.dispose();
      loaded.valueModel?.dispose();
      out[algorithm] = {
        metrics,
        checkpointMatches,
        seconds: (performance.now() - started) / 1000,
      };
      progress(algorithm);
    } finally {
      policy.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  }
  return out;
}

/** What the theory lab computes on the transformer adapter. */
export interface TheoryResult {
  objective: number;
  gradientNorm: number;
  scoreFunctionCheck: number;
  /** Per estimator: relative bias and its standard error (both finite on every backend). */
  estimators: { name: string; relativeBias: number; standardError: number }[];
}

/**
 * The theory lab on the transformer adapter over a tiny enumerated space: exact objective and
 * gradient, and a few estimators (one a recipe as shipped) with 20 estimates each.
 */
export async function smokeTheory(): Promise<TheoryResult> {
  const model = createPolicy({
    vocabSize: 4,
    dModel: 8,
    layers: 1,
    heads: 1,
    maxLength: 4,
    seed: 2,
  });
  const policy = transformerSequencePolicy(model, { padToken: 3 });
  const space = enumerateResponses({
    vocabSize: 4,
    eosToken: 3,
    maxTokens: 2,
    prompts: [[0], [1]],
  });
  const rewards = drawTokenRewards(space, { seed: 5 });
  try {
    const result = await runTheoremCheck({
      policy,
      space,
      rewards,
      estimators: [
        leaveOneOutEstimator(),
        prefixValueEstimator({ continuations: 2 }),
        ...asShippedEstimators(space.maxTokens).filter((e) => e.name === "rloo-as-shipped"),
      ],
      estimates: 20,
      groupSize: 2,
      seed: 9,
    });
    return {
      objective: result.objective,
      gradientNorm: result.gradientNorm,
      scoreFunctionCheck: result.scoreFunctionCheck,
      estimators: result.estimators.map((e) => ({
        name: e.name,
        relativeBias: e.relativeBias,
        standardError: e.standardError,
      })),
    };
  } finally {
    policy.dispose();
    model.dispose();
  }
}
