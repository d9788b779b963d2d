import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { pairedDifference, tCritical95 } from "../../lib/experiments/paired_difference.ts";

Deno.test("pairedDifference: five seeds worked out by hand", () => {
  // d = [0.05, 0.07, 0.03, 0.06, 0.04]: mean 0.05, Σ(d − 0.05)² = 0.001, std = sqrt(0.001/4) = 0.0158114,
  // standard error = 0.0158114/√5 = 0.00707107, t = 7.0711 > t(0.975, 4) = 2.776: separated.
  const d = pairedDifference([0.55, 0.57, 0.53, 0.56, 0.54], [0.5, 0.5, 0.5, 0.5, 0.5]);
  assertEquals(d.n, 5);
  assertAlmostEquals(d.mean, 0.05, 1e-12);
  assertAlmostEquals(d.std, Math.sqrt(0.001 / 4), 1e-12);
  assertAlmostEquals(d.standardError, 0.00707107, 1e-8);
  assertAlmostEquals(d.t!, 7.0710678, 1e-6);
  assertEquals([d.critical, d.separated], [2.776, true]);
  // Reversed: the same |t|, negative, still separated.
  const r = pairedDifference([0.5, 0.5, 0.5, 0.5, 0.5], [0.55, 0.57, 0.53, 0.56, 0.54]);
  assertAlmostEquals(r.t!, -7.0710678, 1e-6);
  assertEquals(r.separated, true);
});

Deno.test("pairedDifference: a small effect with a large spread is not separated", () => {
  // d = [0.1, −0.1, 0.3]: mean 0.1, std 0.2, t = 0.1/(0.2/√3) = 0.866 < 4.303.
  const d = pairedDifference([0.6, 0.4, 0.8], [0.5, 0.5, 0.5]);
  assertAlmostEquals(d.t!, Math.sqrt(3) / 2, 1e-12);
  assertEquals(d.separated, false);
});

Deno.test("pairedDifference: one seed cannot be tested; equal differences are", () => {
  assertEquals(pairedDifference([0.7], [0.5]).separated, false);
  assertEquals(pairedDifference([0.7], [0.5]).t, null);
  assertEquals(pairedDifference([0.7], [0.5]).critical, null);
  const same = pairedDifference([0.75, 1], [0.5, 0.75]);
  assertEquals([same.t, same.separated], [null, true]);
  // Differences equal up to rounding (0.7 − 0.5 ≠ 0.8 − 0.6 in binary) count as equal.
  assertEquals(pairedDifference([0.7, 0.8], [0.5, 0.6]).t, null);
  assertEquals(pairedDifference([0.5, 0.6], [0.5, 0.6]).separated, false);
});

Deno.test("tCritical95: the table and its normal tail", () => {
  assertEquals([tCritical95(1), tCritical95(2), tCritical95(9), tCritical95(30)], [
    12.706,
    4.303,
    2.262,
    2.042,
  ]);
  assertEquals(tCritical95(31), 1.96);
  assertThrows(() => tCritical95(0), RangeError, "Cannot look up the t critical value: df");
});

Deno.test("pairedDifference: bad input", () => {
  const context = "Cannot compare the algorithms seed by seed";
  assertThrows(
    () => pairedDifference([1, 2], [1]),
    RangeError,
    `${context}: a and b must be non-empty and of equal length, got 2 and 1`,
  );
  assertThrows(() => pairedDifference([], []), RangeError, "non-empty");
  assertThrows(
    () => pairedDifference("x" as unknown as number[], [1]),
    TypeError,
    `${context}: a must be an array`,
  );
  assertThrows(() => pairedDifference([NaN], [1]), RangeError, context);
});
