/**
 * Learning: from one supervised warm start on addition, each algorithm, with its default config
 * (64 responses per step, learning rate 3e-5), raises greedy accuracy on the 200-example eval set
 * by at least 15 points within 80 steps, for two RL seeds. A null control (GRPO on a random reward)
 * shows that this threshold is far above what the optimizer's noise alone does.
 *
 * The warm start matters more than anything else here (measured while tuning these defaults):
 *
 * - The cosine SFT default (1000 × 32 at 4e-3, 24 % greedy) ends *before* the model's phase
 *   transition on addition: answers are diffuse (π(y*) of 123 of the 152 wrong eval answers lies in
 *   0.05–0.2). From there even ascending the *exact* gradient of the expected reward,
 *   `∇ mean_p π(y*_p | p)` (no sampling noise at all), with Adam moves greedy accuracy only
 *   24 % → 24–28 % in 100 steps, and continued SFT does about the same. RL cannot beat its exact
 *   gradient: the recipes were not broken, the start was in a flat region. Their one-step loss
 *   gradients (512 responses) all point along the exact gradient: cosine 0.98 REINFORCE, 0.97 PPO,
 *   0.94 RLOO, 0.94 TRePO, 0.92 GRPO, 0.83 ReMax — no sign, KL or aggregation bug.
 * - Inside the transition greedy accuracy is a knife edge: at one 53.5 % checkpoint most right
 *   answers had π(y*) < 0.35, and a random-reward run at 1e-4 took it to 32 %.
 * - Just past the steepest part (65–75 %) right answers are confident and wrong ones are near
 *   misses (π(y*) 0.2–0.5): RL gains 20–30 points. Where the transition happens depends on the
 *   seed and on float rounding (575 or 1050 steps at 2e-3 for the same seed after a kernel
 *   change), so a fixed SFT step count cannot land there; the warm start below trains with a
 *   constant learning rate until greedy accuracy on 200 held-out *training* pairs (never the eval
 *   set) reaches 65 %, checked every 25 steps.
 * - Batch: 64 responses per step (16 before) doubled GRPO's 20-step gain from the same start.
 */
import { assertGreater, assertLess } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/policy/checkpoint.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { supervisedFineTune } from "../../lib/algorithms/supervised_fine_tune.ts";
import { train, type TrainOptions } from "../../lib/algorithms/train.ts";

await initBackend({ backend: "wasm" });

let warmStart: Promise<{ path: string; steps: number; heldOut: number }> | undefined;
/** The library's default warm start (stops at 65 % held-out training accuracy), saved once. */
function sharedWarmStart(): Promise<{ path: string; steps: number; heldOut: number }> {
  warmStart ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "trepo_sft_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const policy = createPolicy(defaultPolicyConfig(addition));
    try {
      const sft = await supervisedFineTune(policy, addition);
      if (sft.heldOutAccuracy === null || sft.heldOutAccuracy < 0.65) {
        throw new Error(
          `The warm start reached only ${sft.heldOutAccuracy} after ${sft.steps} SFT steps`,
        );
      }
      await saveCheckpoint(`${dir}/sft`, { policy, tokenizer: addition.tokenizer });
      return { path: `${dir}/sft`, steps: sft.steps, heldOut: sft.heldOutAccuracy };
    } finally {
      policy.dispose();
    }
  })();
  return warmStart;
}

/** Greedy eval accuracy before and after `STEPS` steps of `algorithm` from the warm start. */
async function gain(
  algorithm: string,
  seed: number,
  extra: Partial<TrainOptions> = {},
): Promise<[number, number]> {
  const start = await sharedWarmStart();
  const { policy } = await loadCheckpoint(start.path);
  const accuracies: number[] = [];
  try {
    const result = await train({
      algorithm,
      task: addition,
      policy,
      steps: STEPS,
      seed,
      evalEvery: STEPS,
      onStep: (r) => {
        if (r["eval/accuracy"] !== undefined) accuracies.push(r["eval/accuracy"]);
      },
      ...extra,
    });
    result.valueModel?.dispose();
  } finally {
    policy.dispose();
  }
  const [before, after] = accuracies;
  console.log(
    `${algorithm}${extra.rewardFns ? " (random reward)" : ""} seed ${seed}: ` +
      `greedy accuracy ${before} → ${after} (warm start: ${start.steps} SFT steps, ` +
      `held-out training accuracy ${start.heldOut})`,
  );
  return [before, after];
}

const STEPS = 80;
const SEEDS = [1, 2];
/**
 * Required gain in greedy eval accuracy: 15 points (30 of the 200 examples).
 *
 * Noise floor: greedy evaluation is deterministic, so doing nothing gains exactly 0. The same
 * 80 steps of GRPO with the same optimizer but a reward drawn at random (independent of the
 * response; the null-control test below) moved accuracy by −7 and −0.5 points (seeds 1, 2).
 * Measured here (wasm; the library's default warm start: 675 SFT steps, 67.5 % eval), seeds 1 / 2:
 * GRPO +17.5 / +16.5, RLOO +18.5 / +19, ReMax +18.5 / +17.5, REINFORCE +23 / +23,
 * PPO +24 / +25, TRePO +19 / +18 points (at 40 steps the gains were 13–22 points). The earlier
 * helper's warm start (575 steps, 67.5 %) gave 23–28.5 points in 40 steps: the margin above the
 * threshold depends on the warm start, and is smallest for GRPO (1.5 points).
 */
const GAIN = 0.15;
/**
 * Each algorithm with its default config (64 responses per step, learning rate 3e-5). PPO's
 * 4 epochs × 2 minibatches (TRL's defaults) cost 8 policy and 8 critic updates per step; here
 * 2 epochs of one minibatch keep the file's runtime down.
 */
const CASES: [string, Record<string, unknown>][] = [
  ["grpo", {}],
  ["rloo", {}],
  ["remax", {}],
  ["reinforce", {}],
  ["ppo", { epochs: 2, minibatches: 1 }],
  ["trepo", {}],
];

for (const [algorithm, config] of CASES) {
  Deno.test(
    `${algorithm} raises greedy addition accuracy by ≥ ${GAIN} in ${STEPS} steps × 64 responses from the SFT warm start past its transition (RL seeds ${
      SEEDS.join(", ")
    })`,
    async () => {
      for (const seed of SEEDS) {
        const [before, after] = await gain(algorithm, seed, { config });
        assertGreater(after - before, GAIN, `${algorithm} seed ${seed}: ${before} → ${after}`);
      }
    },
  );
}

Deno.test(
  `null control: grpo on a random reward moves greedy addition accuracy by < ${GAIN} in ${STEPS} steps (RL seeds ${
    SEEDS.join(", ")
  })`,
  async () => {
    for (const seed of SEEDS) {
      const rng = new Random(1000 + seed);
      const [before, after] = await gain("grpo", seed, {
        rewardFns: { random: () => (rng.float() < 0.35 ? 1 : 0) },
      });
      assertLess(Math.abs(after - before), GAIN, `null seed ${seed}: ${before} → ${after}`);
    }
  },
);
