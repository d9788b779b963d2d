/**
 * Gradient accumulation (`microBatchSize`): a minibatch cut into micro-batches makes the same Adam
 * step as the minibatch in one pass, in every aggregation mode and for PPO's value loss, because
 * every micro-batch's loss is normalised by the whole minibatch's count.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, freezePolicy, type Policy } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { disposeRollout, type Rollout } from "../../lib/sample/rollout.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import { AGGREGATION_MODES, type AggregationMode } from "../../lib/loss/aggregate.ts";
import {
  resolveConfig,
  type StepBatch,
  type StepMetrics,
  type StepState,
} from "../../lib/algorithms/step.ts";
import { clippedPolicyLoss, policyObjective } from "../../lib/algorithms/objective.ts";
import { updatePolicy } from "../../lib/algorithms/policy_update.ts";
import { accumulateGradients, selectRows, selectRowsOf } from "../../lib/algorithms/update.ts";
import { grpo } from "../../lib/algorithms/grpo.ts";
import { ppo } from "../../lib/algorithms/ppo.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";

await initBackend({ backend: "cpu" });

/** An optimizer that records the gradients it is given and changes nothing. */
class GradientRecorder extends tf.Optimizer {
  /** One list of gradients (in the order given) per `applyGradients` call. */
  readonly steps: Float32Array[][] = [];
  static get className(): string {
    return "GradientRecorder";
  }
  override applyGradients(
    grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[],
  ): void {
    const list = Array.isArray(grads) ? grads.map((g) => g.tensor) : Object.values(grads);
    this.steps.push(list.map((g) => g.dataSync().slice() as Float32Array));
  }
  override getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** ‖a − b‖₂ / ‖b‖₂ over every weight of one step. */
function relativeError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let diff = 0;
  let norm = 0;
  a.forEach((w, i) =>
    w.forEach((v, j) => {
      diff += (v - b[i][j]) ** 2;
      norm += b[i][j] ** 2;
    })
  );
  return Math.sqrt(diff / norm);
}

function assertSameSteps(actual: GradientRecorder, expected: GradientRecorder, what: string) {
  assertEquals(actual.steps.length, expected.steps.length, `${what}: number of Adam steps`);
  expected.steps.forEach((step, i) => {
    const error = relativeError(actual.steps[i], step);
    assert(error <= 1e-6, `${what}: step ${i} gradient differs by ${error} (relative)`);
  });
}

const LENGTHS = [5, 2, 0, 3]; // unequal, one fully masked row
const T = 5;

function tinyPolicy(): Policy {
  return createPolicy({ vocabSize: 8, dModel: 16, layers: 1, heads: 2, maxLength: 16, seed: 0 });
}

/** A hand-made rollout of 4 rows with the lengths above, old log-probs and advantages. */
function fixture(): { rollout: Rollout; advantages: tf.Tensor2D; ref: tf.Tensor2D } {
  const maskValues = LENGTHS.flatMap((l) => Array.from({ length: T }, (_, t) => t < l ? 1 : 0));
  const mask = tf.tensor2d(maskValues, [4, T]);
  const pattern = (f: (i: number) => number) =>
    tf.tidy(() => tf.mul(tf.tensor2d(maskValues.map((_, i) => f(i)), [4, T]), mask) as tf.Tensor2D);
  const rollout: Rollout = {
    promptTokens: [[1, 2], [3], [4, 5, 6], [7]],
    tokens: tf.tensor2d(maskValues.map((_, i) => 1 + ((i * 5) % 7)), [4, T], "int32"),
    mask,
    // Old log-probs away from the policy's, so that some ratios leave [1 − ε, 1 + ε].
    logProbs: pattern((i) => -1.2 - ((i * 3) % 4) * 0.4),
    lengths: [...LENGTHS],
    groupSize: 1,
  };
  return {
    rollout,
    advantages: pattern((i) => ((i * 7) % 5) / 2 - 1),
    ref: pattern((i) => -2 + ((i * 2) % 3) * 0.3),
  };
}

function stateOf(policy: Policy, overrides: Record<string, unknown>): StepState {
  return {
    config: resolveConfig(grpo, {
      promptsPerStep: 2,
      groupSize: 2,
      beta: 0.04,
      epochs: 2, // the batch is reused: clip_ratio and policy/approx_kl are measured
      maxGradNorm: 1e9,
      ...overrides,
    }),
    policy,
    optimizers: { policy: new GradientRecorder() },
    rng: new Random(3),
    step: 1,
  };
}

async function update(policy: Policy, overrides: Record<string, unknown>) {
  const { rollout, advantages, ref } = fixture();
  const state = stateOf(policy, overrides);
  const before = tf.memory().numTensors;
  const metrics = await updatePolicy(
    state,
    rollout,
    { advantages, refLogProbs: ref },
    clippedPolicyLoss(state.config),
    T,
  );
  assertEquals(tf.memory().numTensors, before, "tensors leaked by the update");
  disposeRollout(rollout);
  tf.dispose([advantages, ref]);
  return { metrics, recorder: state.optimizers.policy as GradientRecorder };
}

function assertSameMetrics(actual: StepMetrics, expected: StepMetrics, what: string) {
  assertEquals(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const key of ["loss/policy", "grad_norm", "clip_ratio", "policy/approx_kl"]) {
    assert(key in expected, `${key} is measured`);
    assertAlmostEquals(
      actual[key],
      expected[key],
      1e-6 * Math.max(1, Math.abs(expected[key])),
      `${what}: ${key}`,
    );
  }
}

Deno.test("micro-batches of 1 and 2 give the whole batch's gradient and metrics in every mode", async () => {
  const policy = tinyPolicy();
  for (const aggregation of AGGREGATION_MODES) {
    const whole = await update(policy, { aggregation });
    assertEquals(whole.recorder.steps.length, 2); // one Adam step per epoch
    for (const microBatchSize of [1, 2]) {
      const what = `${aggregation}, microBatchSize ${microBatchSize}`;
      const split = await update(policy, { aggregation, microBatchSize });
      assertSameSteps(split.recorder, whole.recorder, what);
      assertSameMetrics(split.metrics, whole.metrics, what);
    }
    // And with two minibatches of 2 rows, each cut into micro-batches of 1.
    const halves = await update(policy, { aggregation, minibatches: 2 });
    const quarters = await update(policy, { aggregation, minibatches: 2, microBatchSize: 1 });
    assertSameSteps(quarters.recorder, halves.recorder, `${aggregation}, 2 minibatches`);
    assertSameMetrics(quarters.metrics, halves.metrics, `${aggregation}, 2 minibatches`);
  }
  policy.dispose();
});

/** The gradient of micro-batches [0, 1] and [2, 3], each normalised by its own count. */
function ownCountGradient(policy: Policy, aggregation: AggregationMode): Float32Array[] {
  const { rollout, advantages, ref } = fixture();
  const weights = [...policy.weights.values()];
  let sum;
  for (const rows of [[0, 1], [2, 3]]) {
    sum = accumulateGradients(weights, () => {
      const mb = selectRows(rollout, rows);
      const width = mb.tokens.shape[1];
      const x = {
        logProbs: tokenLogProbs(policy, mb),
        oldLogProbs: mb.logProbs,
        advantages: selectRowsOf(advantages, rows, width),
        mask: mb.mask,
      };
      return policyObjective(x, selectRowsOf(ref, rows, width), {
        loss: clippedPolicyLoss(grpo.defaultConfig),
        beta: 0.04,
        aggregation,
        normalizer: aggregation === "constant" ? rows.length * T : undefined,
      });
    }, sum);
  }
  const grads = sum!.grads.map((g) => g.dataSync().slice() as Float32Array);
  tf.dispose([sum!.loss, ...sum!.grads]);
  disposeRollout(rollout);
  tf.dispose([advantages, ref]);
  return grads;
}

Deno.test("normalising each micro-batch by its own count would not be the whole batch's gradient", async () => {
  // The test above can fail: with these unequal lengths, the naive accumulation is far off.
  const policy = tinyPolicy();
  for (const aggregation of ["token-mean", "sequence-mean", "sequence-sum", "constant"] as const) {
    const whole = await update(policy, { aggregation, epochs: 1 });
    const error = relativeError(ownCountGradient(policy, aggregation), whole.recorder.steps[0]);
    assert(error > 1e-2, `${aggregation}: own-count accumulation differs by only ${error}`);
  }
  policy.dispose();
});

/** One PPO step with gradient recorders as both optimizers (the weights do not move). */
function additionPolicy(): Policy {
  return createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 0 }));
}

/** Addition prompts, rewarded densely (the number of "1" characters), so rewards differ. */
function additionBatch(prompts: number): StepBatch {
  return {
    prompts: addition.prompts(new Random(5), prompts),
    tokenizer: addition.tokenizer,
    rewardFns: { ones: (_p: string, c: string) => [...c].filter((ch) => ch === "1").length / 4 },
    maxTokens: 4,
  };
}

async function ppoGradients(microBatchSize: number) {
  const policy = additionPolicy();
  const valueModel = createValueModel({ ...policy.config, seed: 9 });
  const config = resolveConfig(ppo, {
    promptsPerStep: 4,
    epochs: 2,
    minibatches: 1,
    maxGradNorm: 1e9,
    microBatchSize,
  });
  const optimizers = { policy: new GradientRecorder(), value: new GradientRecorder() };
  const batch = additionBatch(config.promptsPerStep);
  const reference = freezePolicy(policy);
  const metrics = await ppo.step({
    config,
    policy,
    reference,
    valueModel,
    optimizers,
    rng: new Random(11),
    step: 1,
  }, batch);
  policy.dispose();
  reference.dispose();
  valueModel.dispose();
  return { metrics, optimizers };
}

Deno.test("PPO's value loss (and its policy loss) accumulate exactly over micro-batches", async () => {
  const whole = await ppoGradients(0);
  // Unequal response lengths, so that one-row micro-batches normalised by their own token count
  // would weigh the tokens differently from the whole batch's mean.
  assert(whole.metrics["response_length/mean"] % 1 !== 0, "need responses of unequal lengths");
  for (const microBatchSize of [1, 2]) {
    const split = await ppoGradients(microBatchSize);
    assertSameSteps(split.optimizers.value, whole.optimizers.value, `value, ${microBatchSize}`);
    assertSameSteps(split.optimizers.policy, whole.optimizers.policy, `policy, ${microBatchSize}`);
    for (const key of ["loss/value", "value/grad_norm", "loss/policy", "grad_norm"]) {
      assertAlmostEquals(
        split.metrics[key],
        whole.metrics[key],
        1e-6 * Math.max(1, Math.abs(whole.metrics[key])),
      );
    }
  }
});

Deno.test("a whole grpo step with micro-batches of 2 moves the weights as one pass does", async () => {
  const run = async (microBatchSize: number) => {
    const policy = additionPolicy();
    const config = resolveConfig(grpo, {
      promptsPerStep: 2,
      groupSize: 4,
      learningRate: 1e-2,
      microBatchSize,
    });
    const optimizer = tf.train.adam(config.learningRate);
    const reference = freezePolicy(policy);
    const metrics = await grpo.step({
      config,
      policy,
      reference,
      optimizers: { policy: optimizer },
      rng: new Random(11),
      step: 1,
    }, additionBatch(config.promptsPerStep));
    const weights = [...policy.weights.values()].map((w) => w.dataSync().slice());
    policy.dispose();
    reference.dispose();
    optimizer.dispose();
    return { metrics, weights };
  };
  const whole = await run(0);
  const split = await run(2);
  assert(whole.metrics["reward/std"] > 0, "need rewards that differ, so that the step moves");
  // Adam's first step is blind to a global scale of the gradient; the gradient norm is not.
  for (const key of ["loss/policy", "grad_norm"]) {
    assertAlmostEquals(split.metrics[key], whole.metrics[key], 1e-6 * whole.metrics.grad_norm, key);
  }
  whole.weights.forEach((w, i) =>
    w.forEach((v, j) => assertAlmostEquals(split.weights[i][j], v, 1e-6, `weight ${i}[${j}]`))
  );
});

Deno.test("microBatchSize: 0 is the whole minibatch; a negative or non-dividing size is refused", () => {
  assertEquals(resolveConfig(grpo).microBatchSize, 0);
  assertEquals(resolveConfig(grpo, { microBatchSize: 0 }).microBatchSize, 0);
  assertEquals(resolveConfig(grpo, { microBatchSize: 16 }).microBatchSize, 16);
  assertThrows(
    () => resolveConfig(grpo, { microBatchSize: -2 }),
    RangeError,
    "Cannot configure grpo: config.microBatchSize must be at least 0, got -2",
  );
  assertThrows(
    () => resolveConfig(grpo, { microBatchSize: 1.5 }),
    TypeError,
    "config.microBatchSize must be an integer, got 1.5",
  );
  // grpo: 8 prompts × 8 responses = 64 rows; 2 minibatches of 32.
  assertThrows(
    () => resolveConfig(grpo, { minibatches: 2, microBatchSize: 12 }),
    RangeError,
    "Cannot configure grpo: config.microBatchSize must divide the rows of every minibatch (2 minibatches of 32 rows), got 12; use 0 (the whole minibatch at once) or one of 1, 2, 4, 8, 16, 32",
  );
  assertThrows(
    () => resolveConfig(grpo, { microBatchSize: 128 }),
    RangeError,
    "(one minibatch of 64 rows), got 128",
  );
  // 10 rows in 3 minibatches of 3, 3, 4: only 1 divides them all.
  assertThrows(
    () =>
      resolveConfig(grpo, { promptsPerStep: 5, groupSize: 2, minibatches: 3, microBatchSize: 2 }),
    RangeError,
    "(minibatches of 3, 3, 4 rows), got 2; use 0 (the whole minibatch at once) or one of 1",
  );
});

Deno.test("updatePolicy refuses a non-dividing microBatchSize before any Adam step", async () => {
  const policy = tinyPolicy();
  const { rollout, advantages } = fixture();
  const recorder = new GradientRecorder();
  const state: StepState = {
    config: { ...grpo.defaultConfig, microBatchSize: 3 }, // not through resolveConfig
    policy,
    optimizers: { policy: recorder },
    rng: new Random(3),
    step: 7,
  };
  let error: unknown;
  try {
    await updatePolicy(state, rollout, { advantages }, clippedPolicyLoss(state.config), T);
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError);
  assertEquals(
    error.message,
    "Cannot update the policy at step 7: config.microBatchSize must divide the rows of every minibatch (one minibatch of 4 rows), got 3; use 0 (the whole minibatch at once) or one of 1, 2, 4",
  );
  assertEquals(recorder.steps.length, 0);
  disposeRollout(rollout);
  advantages.dispose();
  policy.dispose();
});

Deno.test("constantLogProbs: reference log-probs in passes of microBatchSize rows equal one pass", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy({
    vocabSize: 9,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 16,
    seed: 4,
  });
  const { sample } = await import("../../lib/sample/sample.ts");
  const { constantLogProbs } = await import("../../lib/algorithms/rollout.ts");
  // Lengths differ (EOS 0 ends some responses early), so each pass trims and pads its width.
  const rollout = await sample(policy, [[1, 2], [3], [4, 5, 6]], {
    groupSize: 2,
    maxTokens: 6,
    eosToken: 0,
    seed: 7,
  });
  const before = tf.memory().numTensors;
  const whole = tokenLogProbs(policy, rollout, { temperature: 0.9 });
  const expected = await whole.data();
  for (const microBatchSize of [1, 4, 6]) {
    const lp = constantLogProbs(policy, rollout, { temperature: 0.9, microBatchSize });
    assertEquals(lp.shape, whole.shape);
    const got = await lp.data();
    for (let i = 0; i < got.length; i++) assertAlmostEquals(got[i], expected[i], 1e-5);
    lp.dispose();
  }
  whole.dispose();
  assertEquals(tf.memory().numTensors, before);
  disposeRollout(rollout);
  policy.dispose();
});
