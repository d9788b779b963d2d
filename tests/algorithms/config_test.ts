/**
 * Config checking and algorithm lookup: every bad input names what is wrong.
 */
import { assertEquals, assertThrows } from "@std/assert";
import { resolveConfig } from "../../lib/algorithms/step.ts";
import { defaultGrpoConfig, drGrpoConfig, grpo } from "../../lib/algorithms/grpo.ts";
import { rloo } from "../../lib/algorithms/rloo.ts";
import { ppo } from "../../lib/algorithms/ppo.ts";
import { trepo } from "../../lib/algorithms/trepo.ts";
import { reinforce } from "../../lib/algorithms/reinforce.ts";
import { remax } from "../../lib/algorithms/remax.ts";

Deno.test("resolveConfig merges overrides over the defaults", () => {
  const c = resolveConfig(grpo, { beta: 0, groupSize: 4 });
  assertEquals(c.beta, 0);
  assertEquals(c.groupSize, 4);
  assertEquals(c.clipEpsilon, 0.2);
  assertEquals(resolveConfig(grpo), { ...defaultGrpoConfig });
});

Deno.test("the paper-stated defaults", () => {
  assertEquals([grpo.defaultConfig.groupSize, grpo.defaultConfig.beta], [8, 0.04]);
  assertEquals(grpo.defaultConfig.aggregation, "sequence-mean");
  assertEquals(grpo.defaultConfig.advantageEpsilon, 1e-6);
  assertEquals([drGrpoConfig.scale, drGrpoConfig.aggregation], ["none", "constant"]);
  assertEquals(
    [ppo.defaultConfig.beta, ppo.defaultConfig.gamma, ppo.defaultConfig.lambda],
    [0.05, 1, 0.95],
  );
  assertEquals([ppo.defaultConfig.clipEpsilon, ppo.defaultConfig.valueClip], [0.2, 0.2]);
  assertEquals([trepo.defaultConfig.positions, trepo.defaultConfig.continuations], [4, 4]);
  assertEquals(reinforce.defaultConfig.beta, 0);
  assertEquals(remax.defaultConfig.beta, 0.04);
});

Deno.test("resolveConfig names an unknown key and lists the valid ones", () => {
  assertThrows(
    () => resolveConfig(grpo, { lr: 1e-3 }),
    RangeError,
    'Cannot configure grpo: unknown key "lr", expected one of promptsPerStep, groupSize',
  );
});

Deno.test("resolveConfig names a key of the wrong type", () => {
  assertThrows(
    () => resolveConfig(grpo, { learningRate: "fast" }),
    TypeError,
    'Cannot configure grpo: config.learningRate must be a finite number, got "fast"',
  );
  assertThrows(
    () => resolveConfig(grpo, { groupSize: 2.5 }),
    TypeError,
    "config.groupSize must be an integer, got 2.5",
  );
  assertThrows(() => resolveConfig(grpo, "beta=0"), TypeError, "config must be a plain object");
});

Deno.test("resolveConfig names a key out of range", () => {
  assertThrows(
    () => resolveConfig(grpo, { beta: -0.1 }),
    RangeError,
    "config.beta must be at least 0, got -0.1",
  );
  assertThrows(
    () => resolveConfig(grpo, { learningRate: 0 }),
    RangeError,
    "config.learningRate must be greater than 0, got 0",
  );
  assertThrows(
    () => resolveConfig(ppo, { lambda: 1.5 }),
    RangeError,
    "config.lambda must be at most 1, got 1.5",
  );
  assertThrows(
    () => resolveConfig(grpo, { aggregation: "mean" }),
    RangeError,
    'unknown config.aggregation "mean", expected one of "token-mean"',
  );
  assertThrows(
    () => resolveConfig(grpo, { promptsPerStep: 1, groupSize: 2, minibatches: 3 }),
    RangeError,
    "config.minibatches must be at most promptsPerStep × groupSize = 2, got 3",
  );
});

Deno.test("resolveConfig refuses a group size the algorithm cannot use", () => {
  assertThrows(
    () => resolveConfig(rloo, { groupSize: 1 }),
    RangeError,
    "Cannot configure rloo: config.groupSize must be at least 2 for rloo, got 1",
  );
  assertThrows(
    () => resolveConfig(grpo, { groupSize: 1 }),
    RangeError,
    "config.groupSize must be at least 2 for grpo, got 1",
  );
  assertEquals(resolveConfig(trepo, { groupSize: 1 }).groupSize, 1); // V̂(0) from continuations
  assertEquals(resolveConfig(reinforce, { groupSize: 1 }).groupSize, 1);
});
