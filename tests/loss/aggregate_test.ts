import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import {
  aggregateLoss,
  AGGREGATION_MODES,
  type AggregationMode,
} from "../../lib/loss/aggregate.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(rng.normal())),
  );
}

/** A right-padded response mask: row lengths uniform in [0, T], so some rows are empty. */
function randomMask(rng: Random, b: number, t: number): number[][] {
  return Array.from({ length: b }, () => {
    const length = rng.int(t + 1);
    return Array.from({ length: t }, (_, j) => (j < length ? 1 : 0));
  });
}

/** Independent scalar-loop reference of every mode. */
function reference(
  loss: number[][],
  mask: number[][],
  mode: AggregationMode,
  normalizer?: number,
): number {
  let total = 0;
  let tokens = 0;
  let sequences = 0;
  let sequenceTotal = 0;
  for (let i = 0; i < loss.length; i++) {
    let rowTotal = 0;
    let rowTokens = 0;
    for (let j = 0; j < loss[i].length; j++) {
      if (mask[i][j] === 1) {
        rowTotal += loss[i][j];
        rowTokens++;
      }
    }
    total += rowTotal;
    tokens += rowTokens;
    if (rowTokens > 0) {
      sequences++;
      sequenceTotal += mode === "sequence-mean" ? rowTotal / rowTokens : rowTotal;
    }
  }
  switch (mode) {
    case "token-mean":
      return tokens === 0 && normalizer === undefined ? 0 : total / (normalizer ?? tokens);
    case "token-sum":
      return total;
    case "constant":
      return total / normalizer!;
    case "sequence-mean":
    case "sequence-sum":
      return sequences === 0 && normalizer === undefined
        ? 0
        : sequenceTotal / (normalizer ?? sequences);
  }
}

async function aggregate(
  loss: number[][],
  mask: number[][],
  mode?: AggregationMode,
  normalizer?: number,
): Promise<number> {
  const l = tf.tensor2d(loss);
  const m = tf.tensor2d(mask);
  const out = aggregateLoss(l, m, { mode, normalizer });
  const value = (await out.data())[0];
  tf.dispose([l, m, out]);
  return value;
}

Deno.test("aggregateLoss: hand-computed value of every mode; default is token-mean", async () => {
  const before = tf.memory().numTensors;
  const loss = [[1, 2, 3, 4], [10, 20, 30, 40], [5, 6, 7, 8]];
  const mask = [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]];
  // valid: row 0 → 1 + 2 + 3 = 6 over 3 tokens; row 1 empty; row 2 → 5 over 1 token
  // token-mean 11/4; sequence-mean (2 + 5)/2 (the empty row is left out); sequence-sum (6 + 5)/2;
  // token-sum 11; constant with B × max length = 3 × 4 = 12 → 11/12
  assertAlmostEquals(await aggregate(loss, mask), 11 / 4, 1e-6);
  assertAlmostEquals(await aggregate(loss, mask, "token-mean"), 11 / 4, 1e-6);
  assertAlmostEquals(await aggregate(loss, mask, "sequence-mean"), 3.5, 1e-6);
  assertAlmostEquals(await aggregate(loss, mask, "sequence-sum"), 5.5, 1e-6);
  assertAlmostEquals(await aggregate(loss, mask, "token-sum"), 11, 1e-6);
  assertAlmostEquals(await aggregate(loss, mask, "constant", 12), 11 / 12, 1e-6);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("aggregateLoss: every token masked gives 0 (not NaN) in every mode", async () => {
  const loss = [[1, NaN], [Infinity, 4]];
  const mask = [[0, 0], [0, 0]];
  for (const mode of AGGREGATION_MODES) {
    const value = await aggregate(loss, mask, mode, mode === "constant" ? 4 : undefined);
    assertEquals(value, 0, mode);
  }
});

Deno.test("aggregateLoss: NaN or ±∞ at masked positions does not reach the result or gradient", async () => {
  const before = tf.memory().numTensors;
  const loss = tf.tensor2d([[2, NaN], [4, -Infinity]]);
  const mask = tf.tensor2d([[1, 0], [1, 0]]);
  const out = aggregateLoss(loss, mask);
  assertAlmostEquals((await out.data())[0], 3, 1e-6); // (2 + 4)/2
  const grad = tf.grad((x: tf.Tensor) => aggregateLoss(x as tf.Tensor2D, mask))(loss);
  // ∂(Σℓm/Σm)/∂ℓ = m/Σm = [0.5, 0, 0.5, 0]
  assertArrayAlmostEquals(await grad.data(), [0.5, 0, 0.5, 0], 1e-7);
  tf.dispose([loss, mask, out, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("aggregateLoss: gradient of sequence-mean weighs each sequence equally", async () => {
  const before = tf.memory().numTensors;
  const loss = tf.tensor2d([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]);
  const mask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]]);
  const grad = tf.grad((x: tf.Tensor) =>
    aggregateLoss(x as tf.Tensor2D, mask, { mode: "sequence-mean" })
  )(loss);
  // 2 non-empty sequences: token weight 1/(2·n_b) → row 0: 1/8, row 1: 1/4, row 2: 0
  assertArrayAlmostEquals(
    await grad.data(),
    [1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 4, 1 / 4, 0, 0, 0, 0, 0, 0],
    1e-7,
  );
  tf.dispose([loss, mask, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("aggregateLoss: matches a scalar loop on random masked batches", async () => {
  const rng = new Random(17);
  for (const [b, t] of [[1, 1], [1, 5], [4, 3], [9, 12]]) {
    for (let trial = 0; trial < 3; trial++) {
      const loss = randomMatrix(rng, b, t);
      const mask = randomMask(rng, b, t);
      for (const mode of AGGREGATION_MODES) {
        const normalizer = mode === "constant" ? b * t : undefined;
        assertAlmostEquals(
          await aggregate(loss, mask, mode, normalizer),
          reference(loss, mask, mode, normalizer),
          1e-5,
          `${mode} on [${b}, ${t}]`,
        );
      }
      // An explicit normalizer replaces the count in token-mean and the sequence modes.
      for (const mode of ["token-mean", "sequence-mean", "sequence-sum"] as const) {
        assertAlmostEquals(
          await aggregate(loss, mask, mode, 7),
          reference(loss, mask, mode, 7),
          1e-5,
          `${mode} with normalizer 7`,
        );
      }
    }
  }
});

Deno.test("aggregateLoss: token-mean with the global token count is invariant to minibatch splits", async () => {
  const rng = new Random(23);
  const b = 10;
  const t = 7;
  const loss = randomMatrix(rng, b, t);
  const mask = randomMask(rng, b, t);
  const full = await aggregate(loss, mask, "token-mean");
  const globalTokens = mask.flat().reduce((s, x) => s + x, 0);
  const globalSequences = mask.filter((row) => row.some((x) => x === 1)).length;
  const fullSequenceMean = await aggregate(loss, mask, "sequence-mean");
  for (const cuts of [[0, 3, 6, 10], [0, 1, 2, 9, 10], [0, 5, 10]]) {
    let sum = 0;
    let sequenceSum = 0;
    for (let k = 0; k + 1 < cuts.length; k++) {
      const rows = loss.slice(cuts[k], cuts[k + 1]);
      const masks = mask.slice(cuts[k], cuts[k + 1]);
      sum += await aggregate(rows, masks, "token-mean", globalTokens);
      sequenceSum += await aggregate(rows, masks, "sequence-mean", globalSequences);
    }
    assertAlmostEquals(sum, full, 1e-5, `token-mean split at ${cuts}`);
    assertAlmostEquals(sequenceSum, fullSequenceMean, 1e-5, `sequence-mean split at ${cuts}`);
  }
  // Without the global count the minibatch means do not add up (the test can fail).
  const a = await aggregate(loss.slice(0, 3), mask.slice(0, 3));
  const c = await aggregate(loss.slice(3), mask.slice(3));
  assertEquals(Math.abs(a + c - full) > 1e-3, true);
});

Deno.test("aggregateLoss: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot aggregate the loss: ";
  const loss = tf.zeros([2, 3]) as tf.Tensor2D;
  const mask = tf.ones([2, 3]) as tf.Tensor2D;
  const wide = tf.ones([2, 4]) as tf.Tensor2D;
  const half = tf.tensor2d([[1, 1, 0.5], [0, 0, 0]]);
  const boolMask = tf.ones([2, 3], "bool") as tf.Tensor2D;
  assertThrows(
    () => aggregateLoss(loss, wide),
    TypeError,
    context + "loss and mask must have the same shape, got loss [2, 3] and mask [2, 4]",
  );
  assertThrows(
    () => aggregateLoss(loss, boolMask),
    TypeError,
    context + "mask must have dtype float32, got bool",
  );
  assertThrows(
    () => aggregateLoss(loss, half),
    RangeError,
    context + "mask must contain only 0 and 1, got 0.5 at index 2",
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { mode: "mean" as AggregationMode }),
    RangeError,
    context +
      'unknown mode "mean", expected one of "token-mean", "sequence-mean", "sequence-sum", "token-sum", "constant"',
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { mode: "constant" }),
    RangeError,
    context + 'mode "constant" requires a positive normalizer, got undefined',
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { mode: "constant", normalizer: 0 }),
    RangeError,
    context + "normalizer must be greater than 0, got 0",
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { normalizer: -3 }),
    RangeError,
    context + "normalizer must be greater than 0, got -3",
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { normalizer: NaN }),
    TypeError,
    context + "normalizer must be a finite number, got NaN",
  );
  assertThrows(
    () => aggregateLoss(loss, mask, { mode: "token-sum", normalizer: 6 }),
    RangeError,
    context + 'mode "token-sum" takes no normalizer, got 6',
  );
  tf.dispose([loss, mask, wide, half, boolMask]);
  assertEquals(tf.memory().numTensors, before);
});
