/**
 * A concurrency limit for asynchronous work (requests to an inference server).
 *
 * @module
 */
import { checkInteger } from "../validate.ts";

/** Runs asynchronous tasks with at most `limit` of them in flight at once. */
export type ConcurrencyLimit = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * Make a limiter: each call runs `task` as soon as fewer than `limit` tasks are running, in the
 * order of the calls, and settles with the task's result.
 *
 * @param limit The most tasks in flight at once, at least 1.
 * @returns The limiter.
 * @throws {RangeError} When `limit < 1`.
 *
 * @example
 * ```ts
 * import { concurrencyLimit } from "./concurrency.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const run = concurrencyLimit(2);
 * let running = 0;
 * let most = 0;
 * const task = async (x: number) => {
 *   running++;
 *   most = Math.max(most, running);
 *   await Promise.resolve();
 *   running--;
 *   return x * 2;
 * };
 * assertEquals(await Promise.all([1, 2, 3, 4].map((x) => run(() => task(x)))), [2, 4, 6, 8]);
 * assertEquals(most, 2);
 * ```
 */
export function concurrencyLimit(limit: number): ConcurrencyLimit {
  checkInteger("Cannot limit concurrency", "limit", limit, 1);
  let running = 0;
  const waiting: (() => void)[] = [];
  // A finishing task hands its slot straight to the next waiting one, so that a call made in
  // between cannot take it too.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
