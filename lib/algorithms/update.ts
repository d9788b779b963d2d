/**
 * The optimizer step every algorithm shares: compute a loss inside `tf.variableGrads`, refuse a
 * non-finite loss or gradient, clip the global gradient norm, apply Adam. Plus the small pieces of
 * bookkeeping every recipe needs (row subsets of a rollout, minibatch plans, masked means).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Random } from "../random.ts";
import type { Rollout } from "../sample/rollout.ts";

/** Options of {@linkcode applyUpdate}. */
export interface ApplyUpdateOptions {
  /** Clip the global L2 norm of the gradient to this value (PyTorch `clip_grad_norm_`); `Infinity` turns clipping off. */
  maxGradNorm: number;
  /** What is being updated, for error messages (`"the policy"`, `"the value model"`). */
  what: string;
  /** The 1-based training step, for error messages. */
  step: number;
}

/** What {@linkcode applyUpdate} measured. */
export interface UpdateResult {
  /** The loss before the update. */
  loss: number;
  /** The global L2 norm of the gradient before clipping. */
  gradNorm: number;
}

/**
 * One optimizer step on `weights`: `g = ∇_θ loss(θ)`; if ‖g‖₂ > c, `g ← g · c / (‖g‖₂ + 10⁻⁶)`;
 * then `optimizer.applyGradients(g)`.
 *
 * The loss closure runs inside `tf.variableGrads` (its tensors are freed afterwards); every
 * quantity that must not be differentiated (advantages, old and reference log-probs) must be
 * created outside it and enter as a constant. A NaN or infinite loss or gradient norm throws
 * before anything is applied, so the weights are never corrupted. Gradients are passed to the
 * optimizer for every weight, in the order of `weights` (a weight the loss does not reach gets a
 * zero gradient), because tfjs's Adam keys its moment estimates by position.
 *
 * Used by every recipe: PPO (policy and value model), GRPO, ReMax, RLOO, REINFORCE, TRePO.
 *
 * @param optimizer The optimizer of these weights (Adam in every recipe).
 * @param weights The trainable variables, in a fixed order.
 * @param loss A closure returning a scalar loss; synchronous (it runs inside a tape).
 * @param options Gradient clipping and the context of error messages.
 * @returns The loss and the gradient norm before clipping.
 * @throws {RangeError} When the loss or the gradient is not finite (weights unchanged).
 *
 * @example Minimise (w − 3)² for one step
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { applyUpdate } from "./update.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const w = tf.variable(tf.scalar(1));
 * const sgd = tf.train.sgd(0.1);
 * const r = await applyUpdate(sgd, [w], () => w.sub(3).square() as tf.Scalar, {
 *   maxGradNorm: Infinity, what: "w", step: 1,
 * });
 * assertAlmostEquals(r.loss, 4);
 * assertAlmostEquals(r.gradNorm, 4); // |2(w − 3)|
 * assertAlmostEquals(w.dataSync()[0], 1.4, 1e-6);
 * w.dispose();
 * sgd.dispose();
 * ```
 */
export async function applyUpdate(
  optimizer: tf.Optimizer,
  weights: readonly tf.Variable[],
  loss: () => tf.Scalar,
  options: ApplyUpdateOptions,
): Promise<UpdateResult> {
  const { value, grads } = tf.variableGrads(loss, [...weights]);
  const filled: Record<string, tf.Tensor> = {};
  const created: tf.Tensor[] = [];
  for (const w of weights) {
    let g = grads[w.name];
    if (g === undefined) {
      g = tf.zerosLike(w);
      created.push(g);
    }
    filled[w.name] = g;
  }
  const all = [value, ...Object.values(grads), ...created];
  try {
    // The loss and the gradient norm in one read (one host round trip on a GPU backend).
    const both = tf.tidy(() =>
      tf.stack([
        tf.reshape(value, []),
        tf.sqrt(tf.addN(Object.values(filled).map((g) => tf.sum(tf.square(g))))),
      ])
    );
    const [lossValue, gradNorm] = await both.data();
    both.dispose();
    const where = `Cannot update ${options.what} at step ${options.step}`;
    if (!Number.isFinite(lossValue)) {
      throw new RangeError(`${where}: the loss is ${lossValue}; the weights were left unchanged`);
    }
    if (!Number.isFinite(gradNorm)) {
      throw new RangeError(
        `${where}: the gradient norm is ${gradNorm}; the weights were left unchanged`,
      );
    }
    const c = options.maxGradNorm;
    if (Number.isFinite(c) && gradNorm > c) {
      const scale = c / (gradNorm + 1e-6);
      const clipped: Record<string, tf.Tensor> = {};
      for (const [name, g] of Object.entries(filled)) clipped[name] = tf.mul(g, scale);
      optimizer.applyGradients(clipped);
      tf.dispose(Object.values(clipped));
    } else {
      optimizer.applyGradients(filled);
    }
    return { loss: lossValue, gradNorm };
  } finally {
    tf.dispose(all);
  }
}

/**
 * The rows `rows` of a rollout, cut to the longest response among them (a new rollout; dispose it
 * with `disposeRollout`). Its `groupSize` is 1: the rows need not form whole groups.
 *
 * Used by every recipe to cut a rollout into minibatches.
 *
 * @param rollout A rollout with `B` rows.
 * @param rows Row indices in `[0, B)`.
 * @returns A rollout of `rows.length` rows and `T' = max lengths` columns.
 */
export function selectRows(rollout: Rollout, rows: readonly number[]): Rollout {
  const lengths = rows.map((r) => rollout.lengths[r]);
  const width = Math.max(1, ...lengths);
  const cut = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() =>
      sliceColumns(tf.gather(x, tf.tensor1d([...rows], "int32")) as tf.Tensor2D, width)
    );
  return {
    promptTokens: rows.map((r) => rollout.promptTokens[r]),
    tokens: cut(rollout.tokens),
    mask: cut(rollout.mask),
    logProbs: cut(rollout.logProbs),
    ...(rollout.samplerLogProbs === undefined
      ? {}
      : { samplerLogProbs: cut(rollout.samplerLogProbs) }),
    lengths,
    groupSize: 1,
  };
}

/**
 * The rows `rows` of a `[B, T]` tensor, cut to its first `width` columns (for the constants that
 * go with {@linkcode selectRows}).
 *
 * @param x A `[B, T]` tensor.
 * @param rows Row indices.
 * @param width Columns to keep, at most `T`.
 * @returns `[rows.length, width]`.
 */
export function selectRowsOf(x: tf.Tensor2D, rows: readonly number[], width: number): tf.Tensor2D {
  return tf.tidy(() =>
    sliceColumns(tf.gather(x, tf.tensor1d([...rows], "int32")) as tf.Tensor2D, width)
  );
}

function sliceColumns(x: tf.Tensor2D, width: number): tf.Tensor2D {
  return width >= x.shape[1] ? x : tf.slice(x, [0, 0], [x.shape[0], width]);
}

/**
 * Minibatches for `epochs` passes over `n` rows: each epoch shuffles the rows (with `rng`) and
 * cuts them into `minibatches` nearly equal parts. With one epoch and one minibatch no random
 * number is drawn.
 *
 * @param n Rows in the batch.
 * @param epochs Passes over the batch (≥ 1).
 * @param minibatches Parts per pass (1 ≤ minibatches ≤ n).
 * @param rng The stream that shuffles.
 * @returns `epochs × minibatches` lists of row indices.
 */
export function minibatchPlan(
  n: number,
  epochs: number,
  minibatches: number,
  rng: Random,
): number[][] {
  const plan: number[][] = [];
  for (let e = 0; e < epochs; e++) {
    const order = Array.from({ length: n }, (_, i) => i);
    if (minibatches > 1 || epochs > 1) rng.shuffle(order);
    for (let m = 0; m < minibatches; m++) {
      const start = Math.floor((m * n) / minibatches);
      const end = Math.floor(((m + 1) * n) / minibatches);
      plan.push(order.slice(start, end).sort((a, b) => a - b));
    }
  }
  return plan;
}

/**
 * `Σ x·m / Σ m` as a number (0 when the mask is empty).
 *
 * @param x `[B, T]`.
 * @param mask `[B, T]` 0/1.
 * @returns The masked mean.
 */
export async function maskedMean(x: tf.Tensor2D, mask: tf.Tensor2D): Promise<number> {
  const [num, den] = tf.tidy(() => [tf.sum(tf.mul(x, mask)), tf.sum(mask)]);
  const n = (await num.data())[0];
  const d = (await den.data())[0];
  tf.dispose([num, den]);
  return d > 0 ? n / d : 0;
}

/**
 * The mean and the population standard deviation of numbers.
 *
 * @param values At least one number.
 * @returns `{ mean, std }`.
 */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n;
  return { mean, std: Math.sqrt(variance) };
}

/** Milliseconds → seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
