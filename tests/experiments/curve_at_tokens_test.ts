import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { curveAtTokens } from "../../lib/experiments/curve_at_tokens.ts";

const point = (step: number, accuracy: number, tokens: number, seconds = step) => ({
  step,
  accuracy,
  tokens,
  seconds,
});

Deno.test("curveAtTokens: linear between the two evaluations around the budget, by hand", () => {
  const curve = [point(0, 0.2, 0), point(5, 0.3, 400), point(10, 0.6, 800)];
  // 600 tokens: a quarter… no, halfway from 400 to 800: 0.3 + 0.5 · 0.3 = 0.45 at step 7.5.
  const p = curveAtTokens(curve, 600);
  assertAlmostEquals(p.accuracy, 0.45, 1e-12);
  assertEquals([p.tokens, p.step, p.seconds], [600, 7.5, 7.5]);
  // 100 tokens: a quarter of the way from 0 to 400: 0.2 + 0.25 · 0.1 = 0.225 at step 1.25.
  assertAlmostEquals(curveAtTokens(curve, 100).accuracy, 0.225, 1e-12);
  assertEquals(curveAtTokens(curve, 100).step, 1.25);
  // On an evaluation: its own value; at both ends too.
  assertEquals(curveAtTokens(curve, 400).accuracy, 0.3);
  assertEquals(curveAtTokens(curve, 0).accuracy, 0.2);
  assertEquals(curveAtTokens(curve, 800).accuracy, 0.6);
});

Deno.test("curveAtTokens: a flat stretch of tokens takes the later evaluation", () => {
  const curve = [point(0, 0.1, 0), point(1, 0.2, 100), point(2, 0.5, 100)];
  assertEquals(curveAtTokens(curve, 100).accuracy, 0.2);
  assertEquals(curveAtTokens([point(0, 0.1, 0), point(1, 0.4, 0)], 0).accuracy, 0.1);
});

Deno.test("curveAtTokens: bad input", () => {
  const context = "Cannot read the curve at the token budget";
  const curve = [point(0, 0.2, 0), point(5, 0.3, 400)];
  assertThrows(
    () => curveAtTokens(curve, 401),
    RangeError,
    `${context}: 401 tokens lie outside the curve's 0…400`,
  );
  assertThrows(() => curveAtTokens(curve, -1), RangeError, "outside the curve's 0…400");
  assertThrows(
    () => curveAtTokens([], 0),
    RangeError,
    `${context}: the curve must have at least one point`,
  );
  assertThrows(
    () => curveAtTokens([point(0, 0, 10), point(1, 0, 5)], 7),
    RangeError,
    `${context}: tokens must not decrease, got 5 after 10 at point 1`,
  );
  assertThrows(
    () => curveAtTokens(curve, NaN),
    TypeError,
    `${context}: tokens must be a finite number`,
  );
});
