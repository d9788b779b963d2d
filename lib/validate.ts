/**
 * Input checks shared by every primitive. Each takes the context of the failed operation
 * ("Cannot compute leave-one-out advantages") and throws in the house style: what failed, a colon,
 * then the current state. `TypeError` for wrong types and shapes, `RangeError` for values.
 *
 * Value checks ({@linkcode checkFinite}, {@linkcode checkMask}) read tensor data synchronously on
 * the host backends (wasm, cpu, tensorflow): they run on entry, before anything is computed. On a
 * GPU backend ({@linkcode isDeviceBackend}: webgpu, webgl) they are skipped: a synchronous read
 * there stalls the device, and on tfjs-webgpu in Deno it throws. Shape and dtype checks run on
 * every backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Format a shape as `[2, 3]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Throw unless `value` is a tfjs tensor. */
export function checkTensor(context: string, name: string, value: unknown): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    throw new TypeError(`${context}: ${name} must be a tf.Tensor, got ${describe(value)}`);
  }
  if (value.isDisposed) throw new TypeError(`${context}: ${name} has been disposed`);
  return value;
}

/** Throw unless `value` is a tensor of the given rank (and dtype, when given). */
export function checkRank(
  context: string,
  name: string,
  value: unknown,
  rank: number,
  letters: string,
  dtype?: tf.DataType,
): tf.Tensor {
  const t = checkTensor(context, name, value);
  if (t.rank !== rank) {
    throw new TypeError(
      `${context}: ${name} must have shape ${letters} (rank ${rank}), got shape ${
        formatShape(t.shape)
      }`,
    );
  }
  if (dtype !== undefined && t.dtype !== dtype) {
    throw new TypeError(`${context}: ${name} must have dtype ${dtype}, got ${t.dtype}`);
  }
  return t;
}

/** Throw unless two tensors have the same shape; the message names both shapes. */
export function checkSameShape(
  context: string,
  aName: string,
  a: tf.Tensor,
  bName: string,
  b: tf.Tensor,
): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new TypeError(
      `${context}: ${aName} and ${bName} must have the same shape, got ${aName} ${
        formatShape(a.shape)
      } and ${bName} ${formatShape(b.shape)}`,
    );
  }
}

/** Throw a `RangeError` naming the first NaN or ±Infinity in `values`. */
export function checkFiniteValues(context: string, name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new RangeError(
        `${context}: ${name} must be finite, got ${values[i]} at index ${i}`,
      );
    }
  }
}

/**
 * Whether the active tfjs backend keeps tensors on a GPU (`webgpu`, `webgl`).
 *
 * On such a backend a synchronous read (`dataSync()`, `arraySync()`) of a computed tensor stalls
 * the device, and on tfjs-webgpu in Deno it throws (`Cannot read properties of null (reading
 * 'clearRect')`). trepo's synchronous value checks ({@linkcode checkFinite},
 * {@linkcode checkMask}, token-id ranges) are skipped when this returns true, and its typed-array
 * kernels and host-side scans are replaced by tfjs ops.
 *
 * @returns True on `webgpu` and `webgl`; false on `wasm`, `cpu` and `tensorflow`.
 *
 * @example On the cpu backend tensors live in host memory
 * ```ts
 * import { initBackend } from "./backend.ts";
 * import { isDeviceBackend } from "./validate.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * assertEquals(isDeviceBackend(), false);
 * ```
 */
export function isDeviceBackend(): boolean {
  const name = tf.getBackend();
  return name === "webgpu" || name === "webgl";
}

/**
 * Throw a `RangeError` naming the first NaN or ±Infinity in a tensor (flat index). Skipped on a
 * GPU backend ({@linkcode isDeviceBackend}), where it would need a synchronous device read.
 */
export function checkFinite(context: string, name: string, t: tf.Tensor): void {
  if (isDeviceBackend()) return;
  checkFiniteValues(context, name, t.dataSync() as Float32Array);
}

/**
 * Throw a `RangeError` unless every entry of the mask is exactly 0 or 1. Skipped on a GPU backend
 * ({@linkcode isDeviceBackend}), where it would need a synchronous device read.
 */
export function checkMask(context: string, name: string, t: tf.Tensor): void {
  if (isDeviceBackend()) return;
  const values = t.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== 0 && values[i] !== 1) {
      throw new RangeError(
        `${context}: ${name} must contain only 0 and 1, got ${values[i]} at index ${i}`,
      );
    }
  }
}

/** Throw unless `value` is an integer ≥ `min` (default 1). */
export function checkInteger(context: string, name: string, value: unknown, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${context}: ${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min) {
    throw new RangeError(`${context}: ${name} must be at least ${min}, got ${value}`);
  }
  return value;
}

/** Throw unless `value` is a finite number within [min, max] (each bound optional). */
export function checkNumber(
  context: string,
  name: string,
  value: unknown,
  { min, max, exclusiveMin = false }: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`${context}: ${name} must be a finite number, got ${describe(value)}`);
  }
  if (min !== undefined && (exclusiveMin ? value <= min : value < min)) {
    throw new RangeError(
      `${context}: ${name} must be ${
        exclusiveMin ? "greater than" : "at least"
      } ${min}, got ${value}`,
    );
  }
  if (max !== undefined && value > max) {
    throw new RangeError(`${context}: ${name} must be at most ${max}, got ${value}`);
  }
  return value;
}

/** Throw a `RangeError` listing the valid choices unless `value` is one of them. */
export function checkOneOf<T extends string>(
  context: string,
  name: string,
  value: unknown,
  valid: readonly T[],
): T {
  if (!valid.includes(value as T)) {
    throw new RangeError(
      `${context}: unknown ${name} ${describe(value)}, expected one of ${
        valid.map((v) => `"${v}"`).join(", ")
      }`,
    );
  }
  return value as T;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (value instanceof tf.Tensor) return `a tensor of shape ${formatShape(value.shape)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
