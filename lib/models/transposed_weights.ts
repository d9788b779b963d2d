/**
 * Transposed copies of `nn.Linear` weights, kept for the length of a decoding call.
 *
 * On wasm, `x·Wᵀ` reaches XNNPACK's fast kernel only as a plain matmul with a materialised `Wᵀ`
 * (`dense`). Sampling runs every projection, and the tied `[V, d]` head, once per generated token,
 * so without a cache each token pays a full transpose of every weight. Inside
 * {@linkcode withTransposedWeights} the transpose of a weight variable is computed once and reused.
 *
 * Correctness rules (tested against `tf.matMul(x, w, false, true)` in `tests/models/dense_test.ts`):
 * - **Keyed by the variable and its data.** `Variable.assign` (every optimizer update) gives the
 *   variable a new `dataId`; an entry whose `dataId` differs is stale, disposed and recomputed.
 * - **Never under a gradient tape.** A cached `Wᵀ` was computed outside the tape, so a gradient
 *   through it would not reach `W`; while `tf.grad`/`tf.variableGrads` record, no entry is used or
 *   made.
 * - **Bounded memory, freed deterministically.** Entries live only while a scope is open (nested or
 *   concurrent scopes share them; the last one to close disposes them all), and at most
 *   {@linkcode setTransposedWeightBudget} bytes are held (default 1 GiB), an entry counting twice
 *   its float32 size (the copy, and XNNPACK's packed copy of it); past it `dense` transposes per
 *   call as before. A disposed variable's entry is dropped at the next lookup.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface Entry {
  dataId: object;
  transposed: tf.Tensor2D;
  bytes: number;
}

const entries = new Map<tf.Variable, Entry>();
let depth = 0;
let heldBytes = 0;
let budgetBytes = 2 ** 30;

function drop(w: tf.Variable, entry: Entry): void {
  entry.transposed.dispose();
  heldBytes -= entry.bytes;
  entries.delete(w);
}

function clear(): void {
  for (const [w, entry] of [...entries]) drop(w, entry);
}

/**
 * Run `fn` with the transposed-weight cache open: `dense` calls made inside it (not under a
 * gradient tape) transpose each weight variable once. Entries are disposed when the outermost
 * open scope ends, so `tf.memory().numTensors` is the same after the call as without the cache.
 *
 * Used by the decoding loop of `sample`, `greedy` and `continueFrom`.
 *
 * @param fn The work (sync or async).
 * @returns What `fn` returns.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { withTransposedWeights } from "./transposed_weights.ts";
 * import { dense } from "./dense.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
 * const x = tf.tensor2d([[1, 1]]);
 * const before = tf.memory().numTensors;
 * const y = await withTransposedWeights(async () => {
 *   const out = dense(x, w);
 *   const values = await out.array();
 *   out.dispose();
 *   return values;
 * });
 * assertEquals(y, [[3, 7]]);
 * assertEquals(tf.memory().numTensors, before);
 * tf.dispose([w, x]);
 * ```
 */
export async function withTransposedWeights<T>(fn: () => T | Promise<T>): Promise<T> {
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    if (depth === 0) clear();
  }
}

/**
 * The cached `Wᵀ` of a weight variable `[out, in]` → `[in, out]`, or `undefined` when the cache
 * does not apply (no open scope, not a variable, a gradient tape recording, or over budget).
 * The caller must not dispose the result.
 *
 * @param w The weight.
 * @returns The transposed weight, owned by the cache, or `undefined`.
 */
export function cachedTranspose(w: tf.Tensor): tf.Tensor2D | undefined {
  if (depth === 0 || !(w instanceof tf.Variable) || w.rank !== 2) return undefined;
  if (tf.engine().isTapeOn()) return undefined;
  const entry = entries.get(w);
  if (entry !== undefined) {
    if (entry.dataId === w.dataId && !w.isDisposed) return entry.transposed;
    drop(w, entry);
  }
  for (const [v, e] of [...entries]) if (v.isDisposed) drop(v, e);
  // Each entry costs twice its float32 size: the transposed copy, and the packed copy of it that
  // XNNPACK's matmul operator keeps while that tensor lives (tfjs-wasm caches the operator by its
  // right-hand side). At Qwen2.5-0.5B's shape, counting one copy let 1 GiB of entries grow the
  // wasm heap by 2 GiB on top of 1.9 GiB of weights, past its 4 GiB.
  const bytes = 2 * w.size * 4;
  if (heldBytes + bytes > budgetBytes) return undefined;
  const transposed = tf.keep(tf.transpose(w as tf.Tensor2D));
  entries.set(w, { dataId: w.dataId, transposed, bytes });
  heldBytes += bytes;
  return transposed;
}

/**
 * Set the most bytes the cache holds at once (default 2³⁰); 0 turns it off.
 *
 * @param bytes The budget, ≥ 0.
 * @returns The previous budget.
 * @throws {RangeError} For a negative or non-finite budget.
 *
 * @example
 * ```ts
 * import { setTransposedWeightBudget } from "./transposed_weights.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const previous = setTransposedWeightBudget(0);
 * assertEquals(setTransposedWeightBudget(previous), 0);
 * ```
 */
export function setTransposedWeightBudget(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new RangeError(
      `Cannot set the transposed-weight budget: bytes must be a finite number ≥ 0, got ${bytes}`,
    );
  }
  const previous = budgetBytes;
  budgetBytes = bytes;
  return previous;
}

/**
 * What the cache holds now (for tests and diagnostics).
 *
 * @returns Open scopes, entries and bytes held.
 *
 * @example
 * ```ts
 * import { transposedWeightStats } from "./transposed_weights.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(transposedWeightStats(), { scopes: 0, entries: 0, bytes: 0 });
 * ```
 */
export function transposedWeightStats(): { scopes: number; entries: number; bytes: number } {
  return { scopes: depth, entries: entries.size, bytes: heldBytes };
}
