/**
 * ReMax's greedy baseline comes from the state's sampler: with a server, both the sampled
 * responses and the greedy ones are the server's (the greedy request at temperature 0), never the
 * local policy's.
 */
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { resolveConfig } from "../../lib/algorithms/step.ts";
import { remax } from "../../lib/algorithms/remax.ts";
import { startScriptedServer } from "../sample/scripted_server.ts";

await initBackend({ backend: "cpu" });

Deno.test("remax with a remote sampler takes its greedy baseline from the server at temperature 0", async () => {
  const eos = addition.tokenizer.eos;
  const [one] = addition.tokenizer.encode("1");
  const [two] = addition.tokenizer.encode("2");
  // The server answers "2" when sampling and "1" when decoding greedily.
  const server = startScriptedServer((r) => r.temperature === 0 ? [one, eos] : [two, eos], eos);
  const policy = createPolicy(
    defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 3 }),
  );
  const optimizer = tf.train.adam(1e-3);
  try {
    const config = resolveConfig(remax, { promptsPerStep: 3, groupSize: 1, beta: 0, maxTokens: 4 });
    const prompts = addition.prompts(new Random(5), 3);
    const metrics = await remax.step({
      config,
      policy,
      optimizers: { policy: optimizer },
      rng: new Random(7),
      step: 1,
      sampler: remoteSampler({ baseUrl: server.url, model: "tiny" }),
    }, {
      prompts,
      tokenizer: addition.tokenizer,
      rewardFns: { isOne: (_p, completion) => completion === "1" ? 1 : 0 },
      maxTokens: 4,
    });
    // Sampled "2" scores 0, the greedy "1" scores 1: A = 0 − 1 = −1 for every response.
    assertEquals(metrics["reward/mean"], 0);
    assertEquals(metrics["reward/greedy_mean"], 1);
    assertEquals(metrics["adv/nonzero_fraction"], 1);
    assertEquals(metrics["tokens/generated"], 3 * 2 + 3 * 2);
    assertEquals(server.requests.length, 2);
    const [sampled, greedy] = server.requests;
    assertEquals([sampled.temperature, sampled.n, typeof sampled.seed], [1, 1, "number"]);
    assertEquals([greedy.temperature, greedy.n, "seed" in greedy], [0, 1, false]);
    const encoded = prompts.map((p) => addition.tokenizer.encode(p));
    assertEquals([sampled.prompt, greedy.prompt], [encoded, encoded]);
    assertEquals(greedy.max_tokens, 4);
  } finally {
    optimizer.dispose();
    policy.dispose();
    await server.close();
  }
});
