import { biasTest, summarizeEstimates } from "../../lib/theory/bias_test.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";

Deno.test("summarizeEstimates: mean and covariance trace through a Jacobian, by hand", () => {
  // Jac rows: e1 = (1, 0), e2 = (1, 1). Estimates C = (1, 0) → g = (1, 0); C = (0, 2) → g = (2, 2);
  // C = (3, 1) → g = (4, 1). Mean (7/3, 1); squared distances: 16/9 + 1, 1/9 + 1, 25/9 + 0.
  const jac = {
    rows: 2,
    columns: 2,
    data: Float64Array.from([1, 0, 1, 1]),
    gram: Float64Array.from([1, 1, 1, 2]),
  };
  const s = summarizeEstimates(
    [Float64Array.from([1, 0]), Float64Array.from([0, 2]), Float64Array.from([3, 1])],
    jac,
  );
  assertArrayAlmostEquals(s.mean, [7 / 3, 1], 1e-12);
  assertAlmostEquals(s.variance, (16 / 9 + 1 + 1 / 9 + 1 + 25 / 9) / 2, 1e-12);
  assertEquals(s.samples, 3);
});

Deno.test("biasTest: numbers and verdicts worked out by hand", () => {
  const g = Float64Array.from([3, 4]); // ‖∇J‖ = 5
  // mean (3, 4) + (0.6, 0.8) → bias 1/5 = 0.2; SE = sqrt(1/4)/5 = 0.1 → z = 2 → unbiased.
  const a = biasTest({ mean: Float64Array.from([3.6, 4.8]), variance: 1, samples: 4 }, g);
  assertAlmostEquals(a.relativeBias, 0.2, 1e-12);
  assertAlmostEquals(a.standardError, 0.1, 1e-12);
  assertAlmostEquals(a.zScore, 2, 1e-9);
  assertAlmostEquals(a.cosine, 1, 1e-12);
  assertAlmostEquals(a.scale, 1.2, 1e-12);
  assertAlmostEquals(a.directionalBias, 0, 1e-6);
  assertAlmostEquals(a.relativeVariance, 1 / 25, 1e-12);
  assertEquals(a.verdict, "unbiased");
  // The same bias with 100× the samples: SE 0.01 → z = 20 → biased, but only in scale.
  const b = biasTest({ mean: Float64Array.from([3.6, 4.8]), variance: 1, samples: 400 }, g);
  assertEquals(b.verdict, "biased");
  assertEquals(b.directionVerdict, "unbiased up to scale");
  // An orthogonal error: mean (3, 4) + (0.8, −0.6); bias 0.2, cosine 5/sqrt(26).
  const c = biasTest({ mean: Float64Array.from([3.8, 3.4]), variance: 1, samples: 400 }, g);
  assertAlmostEquals(c.relativeBias, 0.2, 1e-12);
  assertAlmostEquals(c.cosine, 5 / Math.sqrt(26), 1e-12);
  assertEquals(c.directionVerdict, "biased in direction");
});

Deno.test("bias test functions reject bad input", () => {
  const jac = { rows: 1, columns: 1, data: Float64Array.from([1]), gram: Float64Array.from([1]) };
  assertThrows(
    () => summarizeEstimates([Float64Array.from([1])], jac),
    RangeError,
    "Cannot summarise gradient estimates: at least 2 estimates are needed, got 1",
  );
  assertThrows(
    () => summarizeEstimates([Float64Array.from([1]), Float64Array.from([1, 2])], jac),
    RangeError,
    "Cannot summarise gradient estimates: estimate 1 must have 1 coefficients, got 2",
  );
  const s = { mean: Float64Array.from([1]), variance: 1, samples: 10 };
  assertThrows(
    () => biasTest(s, Float64Array.from([1, 2])),
    RangeError,
    "Cannot test for bias: the mean estimate has 1 entries but the exact gradient has 2",
  );
  assertThrows(
    () => biasTest(s, Float64Array.from([0])),
    RangeError,
    "Cannot test for bias: the exact gradient is zero",
  );
  assertThrows(
    () => biasTest(s, Float64Array.from([1]), { threshold: 0 }),
    RangeError,
    "Cannot test for bias: threshold must be greater than 0, got 0",
  );
});
