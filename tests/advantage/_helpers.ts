/**
 * Shared helpers of the advantage and score tests: seeded random batches and a tensor-leak check.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import type { Random } from "../../lib/random.ts";

/** `rows × columns` standard normal numbers (row-major), scaled by `scale`. */
export function randomNormals(rng: Random, count: number, scale = 1): number[] {
  return Array.from({ length: count }, () => scale * rng.normal());
}

/**
 * A random 0/1 mask of shape `[rows, columns]`, row-major. With `prefix` (default) each row is a
 * run of ones of random length 0..columns followed by zeros (what the sampler produces); without
 * it every entry is an independent coin flip (masks with holes).
 */
export function randomMask(
  rng: Random,
  rows: number,
  columns: number,
  { prefix = true }: { prefix?: boolean } = {},
): { mask: number[]; lengths: number[] } {
  const mask: number[] = [];
  const lengths: number[] = [];
  for (let b = 0; b < rows; b++) {
    const length = rng.int(columns + 1);
    let count = 0;
    for (let t = 0; t < columns; t++) {
      const valid = prefix ? t < length : rng.float() < 0.6;
      mask.push(valid ? 1 : 0);
      if (valid) count++;
    }
    lengths.push(count);
  }
  return { mask, lengths };
}

/** Batch shapes `[B, T]` the reference comparisons run over. */
export const SHAPES: readonly [number, number][] = [[1, 1], [2, 3], [4, 7], [8, 16], [3, 33]];

/**
 * Run `fn` and assert that afterwards exactly `returned` more tensors exist than before (the ones it
 * returned). Returns what `fn` returned; the caller disposes it.
 */
export function expectTensorCount<T>(fn: () => T, returned: number): T {
  const before = tf.memory().numTensors;
  const out = fn();
  assertEquals(tf.memory().numTensors - before, returned, "unexpected number of new tensors");
  return out;
}

/** Assert that `fn` throws and creates no tensors on the way. */
export function assertNoTensorsOnThrow(fn: () => unknown): void {
  const before = tf.memory().numTensors;
  try {
    fn();
  } catch {
    // expected
  }
  assertEquals(tf.memory().numTensors, before, "tensors leaked by a failed call");
}
