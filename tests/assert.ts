/**
 * The assertion functions the tests use, with the names and semantics of `@std/assert`
 * (which cannot be fetched here: JSR is unreachable). `deno.json` maps `@std/assert` to this
 * file, so switching to the real module is a one-line import-map change.
 *
 * @module
 */

/** Error thrown by a failed assertion. */
export class AssertionError extends Error {
  /** @param message What failed. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(value: unknown): string {
  return Deno.inspect(value, { depth: 8, iterableLimit: 200, strAbbreviateSize: 400 });
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b as object, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** Assert that `actual` and `expected` are deeply equal. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}Values are not equal:\n  actual:   ${show(actual)}\n  expected: ${
        show(expected)
      }`,
    );
  }
}

/** Assert that `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (deepEqual(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}Expected values to differ: ${show(actual)}`);
  }
}

/** Assert strict (`===`) equality. */
export function assertStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}Values are not strictly equal: ${show(actual)} !== ${
        show(expected)
      }`,
    );
  }
}

/** Assert that a value is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected a truthy value");
}

/** Assert that `actual` is within `tolerance` of `expected` (default 1e-7, absolute). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new AssertionError(
      `${
        msg ? msg + ": " : ""
      }Expected ${actual} to be within ${tolerance} of ${expected} (difference ${
        Math.abs(actual - expected)
      })`,
    );
  }
}

/** Assert that two number arrays have the same length and are element-wise within `tolerance`. */
export function assertArrayAlmostEquals(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance = 1e-6,
  msg?: string,
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}Lengths differ: ${actual.length} vs ${expected.length}`,
    );
  }
  for (let i = 0; i < actual.length; i++) {
    if (Object.is(actual[i], expected[i])) continue;
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      throw new AssertionError(
        `${msg ? msg + ": " : ""}Element ${i} differs: ${actual[i]} vs ${
          expected[i]
        } (tolerance ${tolerance})\n  actual:   ${show(Array.from(actual))}\n  expected: ${
          show(Array.from(expected))
        }`,
      );
    }
  }
}

/** Assert that `actual < expected` or similar comparisons: `actual` greater than `expected`. */
export function assertGreater(actual: number, expected: number, msg?: string): void {
  if (!(actual > expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}Expected ${actual} > ${expected}`);
  }
}

/** Assert `actual >= expected`. */
export function assertGreaterOrEqual(actual: number, expected: number, msg?: string): void {
  if (!(actual >= expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}Expected ${actual} >= ${expected}`);
  }
}

/** Assert `actual < expected`. */
export function assertLess(actual: number, expected: number, msg?: string): void {
  if (!(actual < expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}Expected ${actual} < ${expected}`);
  }
}

/** Assert `actual <= expected`. */
export function assertLessOrEqual(actual: number, expected: number, msg?: string): void {
  if (!(actual <= expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}Expected ${actual} <= ${expected}`);
  }
}

/** Assert that `actual` contains `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}Expected ${show(actual)} to include ${show(expected)}`,
    );
  }
}

/** Assert that `actual` matches the regular expression. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}Expected ${show(actual)} to match ${expected}`,
    );
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

function checkError<E extends Error>(
  error: unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
): E {
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${ErrorClass.name}", but was "${
        error instanceof Error ? error.constructor.name : typeof error
      }": ${error instanceof Error ? error.message : show(error)}`,
    );
  }
  if (msgIncludes !== undefined) {
    const message = error instanceof Error ? error.message : String(error);
    if (!message.includes(msgIncludes)) {
      throw new AssertionError(
        `Expected error message to include ${show(msgIncludes)}, but got ${show(message)}`,
      );
    }
  }
  return error as E;
}

/** Assert that `fn` throws (optionally an instance of `ErrorClass` whose message includes `msgIncludes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, ErrorClass, msgIncludes);
  }
  throw new AssertionError("Expected function to throw");
}

/** Assert that the promise returned by `fn` rejects (optionally with class and message). */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, ErrorClass, msgIncludes);
  }
  throw new AssertionError("Expected function to reject");
}
