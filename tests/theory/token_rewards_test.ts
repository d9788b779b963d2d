import { Random } from "../../lib/random.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { greedyResponse, sampleCompletion } from "../../lib/theory/exact_sampling.ts";
import { responseProbabilities } from "../../lib/theory/token_probabilities.ts";
import { drawTokenRewards, responseReward, rewardToGo } from "../../lib/theory/token_rewards.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertLess,
  assertThrows,
} from "@std/assert";

const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 3, prompts: [[0], [1]] });

Deno.test("RM(W) = Σ_t γ^(t−1) r_t and the reward-to-go, by hand", () => {
  const rewards = drawTokenRewards(space, { seed: 3, gamma: 0.5, scales: [1, 2] });
  const w = space.responses.find((x) => x.promptIndex === 0 && x.tokens.join() === "1,0,2")!;
  const [r1, r2, r3] = w.tokens.map((a, t) => rewards.values[w.contexts[t] * 3 + a]);
  assertAlmostEquals(responseReward(space, rewards, w), r1 + 0.5 * r2 + 0.25 * r3, 1e-12);
  assertArrayAlmostEquals(rewardToGo(space, rewards, w), [
    r1 + 0.5 * r2 + 0.25 * r3,
    r2 + 0.5 * r3,
    r3,
  ], 1e-12);
  // prefixRewards: what was collected on the way to the context [1, 0].
  assertAlmostEquals(rewards.prefixRewards[w.contexts[2]], r1 + 0.5 * r2, 1e-12);
});

Deno.test("sampleCompletion draws responses with their exact probabilities; greedy is the argmax path", () => {
  const V = 3;
  const probs = new Float64Array(space.contexts.length * V);
  const rng = new Random(8);
  for (let s = 0; s < space.contexts.length; s++) {
    const w = [rng.float() + 0.1, rng.float() + 0.1, rng.float() + 0.1];
    const z = w[0] + w[1] + w[2];
    w.forEach((x, a) => probs[s * V + a] = x / z);
  }
  const p = responseProbabilities(space, probs);
  const counts = new Map<string, number>();
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const path = sampleCompletion(space, probs, space.roots[1], rng);
    counts.set(path.tokens.join(), (counts.get(path.tokens.join()) ?? 0) + 1);
  }
  space.responses.forEach((w, i) => {
    if (w.promptIndex !== 1) return;
    const f = (counts.get(w.tokens.join()) ?? 0) / n;
    assertLess(Math.abs(f - p[i]), 5 * Math.sqrt(p[i] * (1 - p[i]) / n) + 1e-9, w.tokens.join());
  });
  const greedy = greedyResponse(space, probs, 0);
  let s = space.roots[0];
  for (const a of greedy.tokens) {
    const row = Array.from(probs.subarray(s * V, s * V + V));
    assertEquals(a, row.indexOf(Math.max(...row)));
    s = space.children[s * V + a];
  }
});

Deno.test("drawTokenRewards rejects bad options", () => {
  assertThrows(
    () => drawTokenRewards(space, { seed: 1, gamma: 1.5 }),
    RangeError,
    "Cannot draw token rewards: gamma must be at most 1, got 1.5",
  );
  assertThrows(
    () => drawTokenRewards(space, { seed: 1, scales: [1] }),
    TypeError,
    "Cannot draw token rewards: scales must be an array of one number per prompt (2), got an array of length 1",
  );
  assertThrows(
    () => drawTokenRewards(space, { seed: 1, scales: [1, -1] }),
    RangeError,
    "Cannot draw token rewards: scales[1] must be at least 0, got -1",
  );
});
