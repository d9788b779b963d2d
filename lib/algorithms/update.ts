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
  /**
   * Micro-batches to sum before the step (default 1): `loss(0)`, …, `loss(n − 1)` each run in
   * their own tape and their gradients are summed ({@linkcode accumulateGradients}).
   */
  microBatches?: number;
}

/** What {@linkcode applyUpdate} measured. */
export interface UpdateResult {
  /** The loss before the update. */
  loss: number;
  /** The global L2 norm of the gradient before clipping. */
  gradNorm: number;
}

/**
 * A gradient summed over micro-batches: the summed loss and one gradient per weight, in the order
 * of the weights (a weight the loss does not reach holds zeros). Made by
 * {@linkcode accumulateGradients}, consumed (and disposed) by {@linkcode applyGradients}.
 */
export interface Gradients {
  /** Σ of the micro-batch losses, a scalar. */
  loss: tf.Scalar;
  /** Σ of the micro-batch gradients, one per weight, each shaped as its weight. */
  grads: tf.Tensor[];
}

/**
 * Add `∇_θ loss(θ)` of one micro-batch to `into` (or start a sum when `into` is absent):
 * `G ← G + ∇_θ ℓ_k(θ)`, `L ← L + ℓ_k(θ)`.
 *
 * The loss closure runs inside `tf.variableGrads` (its tensors are freed afterwards); every
 * quantity that must not be differentiated (advantages, old and reference log-probs) must be
 * created outside it and enter as a constant. The micro-batch's own gradients are disposed as soon
 * as they are added, so memory holds one summed gradient plus one micro-batch's activations and
 * gradients. Gradient accumulation (TRL/verl) is exact when every micro-batch's loss is normalised
 * by the whole minibatch's count (see `aggregationCount`), so that the losses sum to the
 * minibatch's loss.
 *
 * Used by {@linkcode applyUpdate}, the policy update of every recipe and PPO's value model.
 *
 * @param weights The trainable variables, in a fixed order.
 * @param loss A closure returning a scalar loss; synchronous (it runs inside a tape).
 * @param into The sum so far (its tensors are replaced by the new sums and disposed), or
 *   `undefined` to start one.
 * @returns The sum, `into` itself when given; dispose it, or pass it to {@linkcode applyGradients}.
 *
 * @example Two halves of Σw² sum to the gradient of the whole
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { accumulateGradients } from "./update.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const mask = (m: number[]) => tf.tensor1d(m);
 * let g = accumulateGradients([w], () => tf.sum(tf.mul(tf.square(w), mask([1, 0]))));
 * g = accumulateGradients([w], () => tf.sum(tf.mul(tf.square(w), mask([0, 1]))), g);
 * assertEquals(await g.loss.data(), new Float32Array([5])); // 1² + 2²
 * assertEquals(await g.grads[0].data(), new Float32Array([2, 4])); // 2w
 * tf.dispose([g.loss, ...g.grads, w]);
 * ```
 */
export function accumulateGradients(
  weights: readonly tf.Variable[],
  loss: () => tf.Scalar,
  into?: Gradients,
): Gradients {
  const { value, grads } = tf.variableGrads(loss, [...weights]);
  const fresh = weights.map((w) => grads[w.name] ?? tf.zerosLike(w));
  if (into === undefined) return { loss: value, grads: fresh };
  // One weight at a time, so that at most one summed gradient plus this micro-batch's exist.
  into.grads = fresh.map((g, i) => {
    const sum = tf.add(into.grads[i], g);
    tf.dispose([into.grads[i], g]);
    return sum;
  });
  const total = tf.add(into.loss, value) as tf.Scalar;
  tf.dispose([into.loss, value]);
  into.loss = total;
  return into;
}

/**
 * Apply a summed gradient as one optimizer step: if ‖G‖₂ > c, `G ← G · c / (‖G‖₂ + 10⁻⁶)`;
 * then `optimizer.applyGradients(G)`. A NaN or infinite loss or gradient norm throws before
 * anything is applied, so the weights are never corrupted. Gradients are passed for every weight,
 * in the order of `weights`, because tfjs's Adam keys its moment estimates by position. The
 * clipping and the step happen once, whatever the number of micro-batches summed into `gradients`.
 *
 * @param optimizer The optimizer of these weights (Adam in every recipe).
 * @param weights The trainable variables, in the order `gradients` was summed in.
 * @param gradients The sum from {@linkcode accumulateGradients}; disposed, even on error.
 * @param options Gradient clipping and the context of error messages.
 * @returns The loss and the gradient norm before clipping.
 * @throws {RangeError} When the loss or the gradient is not finite (weights unchanged).
 */
export async function applyGradients(
  optimizer: tf.Optimizer,
  weights: readonly tf.Variable[],
  gradients: Gradients,
  options: ApplyUpdateOptions,
): Promise<UpdateResult> {
  try {
    // The loss and the gradient norm in one read (one host round trip on a GPU backend).
    const both = tf.tidy(() =>
      tf.stack([
        tf.reshape(gradients.loss, []),
        tf.sqrt(tf.addN(gradients.grads.map((g) => tf.sum(tf.square(g))))),
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
    const clip = Number.isFinite(c) && gradNorm > c;
    const named: Record<string, tf.Tensor> = {};
    weights.forEach((w, i) => {
      named[w.name] = clip ? tf.mul(gradients.grads[i], c / (gradNorm + 1e-6)) : gradients.grads[i];
    });
    optimizer.applyGradients(named);
    if (clip) tf.dispose(Object.values(named));
    return { loss: lossValue, gradNorm };
  } finally {
    tf.dispose([gradients.loss, ...gradients.grads]);
  }
}

/**
 * One optimizer step on `weights`: `g = ∇_θ loss(θ)`; if ‖g‖₂ > c, `g ← g · c / (‖g‖₂ + 10⁻⁶)`;
 * then `optimizer.applyGradients(g)` ({@linkcode accumulateGradients}, then
 * {@linkcode applyGradients}). With `options.microBatches = n`, `loss(k)` is called for each
 * micro-batch `k < n` and the step is taken on `g = Σ_k ∇_θ loss(k)` (reported loss `Σ_k loss(k)`):
 * gradient accumulation, exact when each `loss(k)` is normalised by the whole batch's count.
 * Whatever a micro-batch's closure creates (its rows, its activations) is freed before the next.
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
 * @param loss A closure returning the scalar loss of micro-batch `k`; synchronous (it runs inside
 *   a tape).
 * @param options Gradient clipping, micro-batches and the context of error messages.
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
  loss: (microBatch: number) => tf.Scalar,
  options: ApplyUpdateOptions,
): Promise<UpdateResult> {
  const n = options.microBatches ?? 1;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot update ${options.what} at step ${options.step}: microBatches must be an integer ≥ 1, got ${n}`,
    );
  }
  let sum: Gradients | undefined;
  try {
    for (let k = 0; k < n; k++) sum = accumulateGradients(weights, () => loss(k), sum);
  } catch (error) {
    if (sum !== undefined) tf.dispose([sum.loss, ...sum.grads]);
    throw error;
  }
  return await applyGradients(optimizer, weights, sum!, options);
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
  const sizes = minibatchSizes(n, minibatches);
  for (let e = 0; e < epochs; e++) {
    const order = Array.from({ length: n }, (_, i) => i);
    if (minibatches > 1 || epochs > 1) rng.shuffle(order);
    let start = 0;
    for (const size of sizes) {
      plan.push(order.slice(start, start + size).sort((a, b) => a - b));
      start += size;
    }
  }
  return plan;
}

/**
 * The rows of each of the `minibatches` nearly equal parts {@linkcode minibatchPlan} cuts `n` rows
 * into: part `m` holds `⌊(m + 1)n / M⌋ − ⌊mn / M⌋` rows.
 *
 * @param n Rows in the batch.
 * @param minibatches Parts (1 ≤ minibatches ≤ n).
 * @returns `minibatches` row counts summing to `n`.
 *
 * @example
 * ```ts
 * import { minibatchSizes } from "./update.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(minibatchSizes(64, 2), [32, 32]);
 * assertEquals(minibatchSizes(10, 3), [3, 3, 4]);
 * ```
 */
export function minibatchSizes(n: number, minibatches: number): number[] {
  return Array.from(
    { length: minibatches },
    (_, m) => Math.floor(((m + 1) * n) / minibatches) - Math.floor((m * n) / minibatches),
  );
}

/**
 * Check that `microBatchSize` divides the rows of every minibatch (0, the whole minibatch in one
 * pass, always does).
 *
 * @param context The start of the error message (`"Cannot configure grpo"`).
 * @param sizes The rows of each minibatch ({@linkcode minibatchSizes}).
 * @param microBatchSize The configured size (an integer ≥ 0).
 * @throws {RangeError} When it does not divide them; the message lists the sizes that would.
 *
 * @example
 * ```ts
 * import { checkMicroBatchSize } from "./update.ts";
 * import { assertThrows } from "@std/assert";
 *
 * checkMicroBatchSize("Cannot configure grpo", [32, 32], 8);
 * assertThrows(
 *   () => checkMicroBatchSize("Cannot configure grpo", [6, 6], 4),
 *   RangeError,
 *   "use 0 (the whole minibatch at once) or one of 1, 2, 3, 6",
 * );
 * ```
 */
export function checkMicroBatchSize(
  context: string,
  sizes: readonly number[],
  microBatchSize: number,
): void {
  if (microBatchSize === 0 || sizes.every((size) => size % microBatchSize === 0)) return;
  const smallest = Math.min(...sizes);
  const divisors = Array.from({ length: smallest }, (_, i) => i + 1)
    .filter((d) => sizes.every((size) => size % d === 0));
  const rows = sizes.length === 1
    ? `one minibatch of ${sizes[0]} rows`
    : new Set(sizes).size === 1
    ? `${sizes.length} minibatches of ${sizes[0]} rows`
    : `minibatches of ${sizes.join(", ")} rows`;
  throw new RangeError(
    `${context}: config.microBatchSize must divide the rows of every minibatch (${rows}), got ${microBatchSize}; use 0 (the whole minibatch at once) or one of ${
      divisors.join(", ")
    }`,
  );
}

/**
 * The micro-batches of one minibatch: its rows cut, in order, into consecutive runs of
 * `microBatchSize` (all of them in one run when it is 0).
 *
 * @param rows The minibatch's row indices.
 * @param microBatchSize Rows per micro-batch (dividing `rows.length`, see
 *   {@linkcode checkMicroBatchSize}), or 0 for one micro-batch.
 * @returns The row indices of each micro-batch.
 *
 * @example
 * ```ts
 * import { microBatchPlan } from "./update.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(microBatchPlan([0, 2, 5, 7], 2), [[0, 2], [5, 7]]);
 * assertEquals(microBatchPlan([0, 2, 5, 7], 0), [[0, 2, 5, 7]]);
 * ```
 */
export function microBatchPlan(rows: readonly number[], microBatchSize: number): number[][] {
  const size = microBatchSize === 0 ? Math.max(1, rows.length) : microBatchSize;
  const plan: number[][] = [];
  for (let start = 0; start < rows.length; start += size) {
    plan.push(rows.slice(start, start + size));
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
