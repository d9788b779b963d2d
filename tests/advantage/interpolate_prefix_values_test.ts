import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { interpolatePrefixValues } from "../../lib/advantage/interpolate_prefix_values.ts";
import { prefixValueAdvantages } from "../../lib/advantage/prefix_value.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";

await initBackend({ backend: "cpu" });

/** Reference: for each j find its segment by a linear scan and mix the endpoints by weight. */
function reference(positions: number[], values: number[], length: number): number[] {
  const out: number[] = [];
  for (let j = 0; j <= length; j++) {
    let k = 0;
    while (k + 1 < positions.length && positions[k + 1] < j) k++;
    if (positions[k] === j || k + 1 === positions.length) {
      out.push(values[k]);
      continue;
    }
    const w = (positions[k + 1] - j) / (positions[k + 1] - positions[k]);
    out.push(w * values[k] + (1 - w) * values[k + 1]);
  }
  return out;
}

Deno.test("matches hand-computed values", () => {
  // Knots (0, 0.2), (3, 0.8), (5, 0): segment 1 rises by 0.6/3 = 0.2 per token,
  // segment 2 falls by 0.8/2 = 0.4 per token.
  // j: 0 → 0.2, 1 → 0.4, 2 → 0.6, 3 → 0.8, 4 → 0.4, 5 → 0
  assertArrayAlmostEquals(
    interpolatePrefixValues([0, 3, 5], [0.2, 0.8, 0], 5),
    [0.2, 0.4, 0.6, 0.8, 0.4, 0],
    1e-12,
  );
  // Every position given: the values themselves.
  assertEquals(interpolatePrefixValues([0, 1, 2], [3, -1, 7], 2), [3, -1, 7]);
  // Length 0: the prompt is also the complete response.
  assertEquals(interpolatePrefixValues([0], [0.5], 0), [0.5]);
  // Typed arrays are accepted.
  assertEquals(interpolatePrefixValues(new Int32Array([0, 2]), new Float64Array([1, 2]), 2), [
    1,
    1.5,
    2,
  ]);
});

Deno.test("matches a reference, hits the given values exactly, telescopes through prefixValueAdvantages", async () => {
  const rng = new Random(4);
  for (let trial = 0; trial < 40; trial++) {
    const length = 1 + rng.int(40);
    const inner = rng.shuffle(Array.from({ length: length - 1 }, (_, i) => i + 1))
      .slice(0, rng.int(Math.min(length, 6)))
      .sort((a, b) => a - b);
    const positions = [0, ...inner, length];
    const values = positions.map(() => rng.float() < 0.3 ? rng.int(2) : rng.normal());
    const out = interpolatePrefixValues(positions, values, length);
    assertEquals(out.length, length + 1);
    assertArrayAlmostEquals(out, reference(positions, values, length), 1e-12);
    positions.forEach((p, k) => assertEquals(out[p], values[k], `knot ${p}`));
    // Through prefixValueAdvantages the token advantages sum to V(length) − V(0).
    const v = tf.tensor2d(out, [1, length + 1]);
    const m = tf.ones([1, length]) as tf.Tensor2D;
    const a = prefixValueAdvantages(v, m);
    const sum = Array.from(await a.data()).reduce((s, x) => s + x, 0);
    assertAlmostEquals(sum, values[values.length - 1] - values[0], 1e-5);
    tf.dispose([v, m, a]);
  }
});

Deno.test("rejects bad positions and values with the exact class and message", () => {
  const context = "Cannot interpolate prefix values";
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => interpolatePrefixValues([1, 3], [0, 1], 3),
      RangeError,
      `${context}: positions must start at 0, got 1 at index 0`,
    ],
    [
      () => interpolatePrefixValues([0, 2], [0, 1], 3),
      RangeError,
      `${context}: positions must end at length 3, got 2 at index 1`,
    ],
    [
      () => interpolatePrefixValues([0, 2, 2, 3], [0, 1, 1, 1], 3),
      RangeError,
      "positions must be strictly increasing, got 2 after 2 at index 2",
    ],
    [
      () => interpolatePrefixValues([0, 3, 2, 4], [0, 1, 1, 1], 4),
      RangeError,
      "positions must be strictly increasing, got 2 after 3 at index 2",
    ],
    [
      () => interpolatePrefixValues([0, 5], [0, 1], 3),
      RangeError,
      "positions must end at length 3, got 5 at index 1",
    ],
    [
      () => interpolatePrefixValues([0, 1.5, 3], [0, 1, 1], 3),
      TypeError,
      "positions must be integers, got 1.5 at index 1",
    ],
    [
      () => interpolatePrefixValues([0, 3], [0, 1, 2], 3),
      TypeError,
      "positions and values must have the same length, got 2 positions and 3 values",
    ],
    [
      () => interpolatePrefixValues([], [], 3),
      RangeError,
      "positions must start at 0 and end at 3, got none",
    ],
    [
      () => interpolatePrefixValues([0, 3], [0, NaN], 3),
      RangeError,
      "values must be finite, got NaN at index 1",
    ],
    [
      () => interpolatePrefixValues([0, 3], [0, 1], -1),
      RangeError,
      "length must be at least 0, got -1",
    ],
    [
      () => interpolatePrefixValues([0, 3], [0, 1], 2.5),
      TypeError,
      "length must be an integer, got 2.5",
    ],
    [
      () => interpolatePrefixValues("0,3" as unknown as number[], [0, 1], 3),
      TypeError,
      `positions must be an array of numbers, got "0,3"`,
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) assertThrows(fn, ErrorClass, message);
});
