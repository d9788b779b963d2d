/**
 * GRPO and TRePO trained through an inference server (the fake one, generating with the policy
 * being trained, so its weights are always current) match the same runs sampled locally with the
 * same seeds: same responses, same continuations, same rewards, and losses equal up to the float
 * rounding of recomputing the old log-probs.
 *
 * The local reference sampler below draws one seed per call from the step's stream, as the remote
 * sampler does, and samples with `sample(policy, prompts, { seed })`; its continuations take the
 * remote sampler's request plan (one call per remaining budget, seeds s + j in increasing budget
 * order), done locally.
 */
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import type { Random } from "../../lib/random.ts";
import { sample } from "../../lib/sample/sample.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import type { Sampler } from "../../lib/sample/sampler.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { train } from "../../lib/algorithms/train.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { startFakeServer, withoutSync } from "./fake_server.ts";

await initBackend({ backend: "cpu" });

function tinyPolicy(): Policy {
  return createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 5 }));
}

function seedOf(rng: Random | undefined, seed: number | undefined): number {
  return rng !== undefined ? rng.int(2 ** 31) : seed!;
}

/** The local policy with the remote sampler's seeds and request plan. */
const seededLocal: Sampler = {
  name: "seeded local",
  remote: false,
  sample(policy, prompts, options) {
    const seed = seedOf(options.rng, options.seed);
    return sample(policy, prompts, { ...options, rng: undefined, seed });
  },
  greedy,
  async continueFrom(policy, rollout, prefixes, options) {
    const seed = seedOf(options.rng, options.seed);
    const tokens = await rollout.tokens.array();
    const heads = prefixes.map(({ row, position }) => tokens[row].slice(0, position));
    const budgets = [
      ...new Set(
        heads.filter((h) =>
          h.length < options.maxTokens && !(h.length > 0 && h.at(-1) === options.eosToken)
        ).map((h) => options.maxTokens - h.length),
      ),
    ].sort((a, b) => a - b);
    const tails = new Map<number, number[][]>();
    for (const [j, budget] of budgets.entries()) {
      const members = heads.flatMap((h, i) =>
        options.maxTokens - h.length === budget && !(h.length > 0 && h.at(-1) === options.eosToken)
          ? [i]
          : []
      );
      const r = await sample(
        policy,
        members.map((i) => [...rollout.promptTokens[prefixes[i].row], ...heads[i]]),
        {
          groupSize: options.samples,
          maxTokens: budget,
          temperature: options.temperature,
          eosToken: options.eosToken,
          seed: (seed + j) % 2 ** 31,
        },
      );
      const rows = await r.tokens.array();
      members.forEach((i, m) =>
        tails.set(
          i,
          rows.slice(m * options.samples, (m + 1) * options.samples).map((row, k) =>
            row.slice(0, r.lengths[m * options.samples + k])
          ),
        )
      );
      r.tokens.dispose();
      r.mask.dispose();
      r.logProbs.dispose();
    }
    const completions: number[][] = [];
    let generatedTokens = 0;
    heads.forEach((head, i) => {
      for (let k = 0; k < options.samples; k++) {
        const tail = tails.get(i)?.[k] ?? [];
        generatedTokens += tail.length;
        completions.push([...head, ...tail]);
      }
    });
    return { prefixes, samples: options.samples, completions, generatedTokens };
  },
};

for (const algorithm of ["grpo", "trepo"]) {
  Deno.test(`${algorithm} through the fake server matches the seeded local run`, async () => {
    const common = {
      algorithm,
      task: "addition",
      steps: 3,
      seed: 2,
      config: { promptsPerStep: 2, groupSize: 3, maxTokens: 4 },
      // A dense reward, so that advantages and losses are not zero for a random policy.
      rewardFns: {
        short: (_p: string, c: string) => 1 / (1 + c.length) + (c.includes("1") ? 1 : 0),
      },
    };
    const local = tinyPolicy();
    const served = tinyPolicy();
    const server = startFakeServer({
      policy: served,
      eosToken: addition.tokenizer.eos,
      model: "tiny",
    });
    try {
      const viaServer = await train({
        ...common,
        policy: served,
        sampler: withoutSync(remoteSampler({ baseUrl: server.url, model: "tiny" })),
      });
      const viaLocal = await train({ ...common, policy: local, sampler: seededLocal });
      assert(server.requests.some((r) => r.path === "/v1/completions"));
      for (let i = 0; i < common.steps; i++) {
        const a = viaServer.records[i];
        const b = viaLocal.records[i];
        for (
          const key of ["reward/mean", "reward/std", "tokens/generated", "response_length/mean"]
        ) {
          assertEquals(a[key], b[key], `step ${i + 1} ${key}`);
        }
        for (const key of ["loss/policy", "grad_norm", "entropy", "kl"]) {
          assertAlmostEquals(a[key], b[key], 1e-4, `step ${i + 1} ${key}`);
        }
        assert(a["loss/policy"] !== 0 && a["reward/std"] > 0, `step ${i + 1}: a trivial batch`);
        // The server runs the same weights: its log-probs equal the trainer's up to rounding.
        assert(a["sampler/logprob_gap_max"] < 1e-4, `gap ${a["sampler/logprob_gap_max"]}`);
      }
      const [wa, wb] = [served, local].map((p) => [...p.weights.values()]);
      for (let i = 0; i < wa.length; i++) {
        const [x, y] = [await wa[i].data(), await wb[i].data()];
        for (let j = 0; j < x.length; j++) assertAlmostEquals(x[j], y[j], 1e-4);
      }
    } finally {
      await server.close();
      local.dispose();
      served.dispose();
    }
  });
}
