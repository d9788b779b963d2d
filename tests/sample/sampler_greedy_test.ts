/**
 * `Sampler.greedy`: the local sampler is `greedy` itself; the remote one asks the server for one
 * response per prompt at temperature 0.
 */
import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { localSampler } from "../../lib/sample/sampler.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { startScriptedServer } from "./scripted_server.ts";

await initBackend({ backend: "cpu" });

const EOS = 0;

Deno.test("localSampler.greedy is greedy: the same tokens, log-probs and lengths", async () => {
  const policy = createPolicy({
    vocabSize: 6,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 12,
    seed: 2,
  });
  const prompts = [[1, 2], [3], [4, 5, 1]];
  const options = { maxTokens: 5, eosToken: EOS, stopTokens: [5] };
  const a = await localSampler.greedy(policy, prompts, options);
  const b = await greedy(policy, prompts, options);
  assertEquals(await a.tokens.array(), await b.tokens.array());
  assertEquals(await a.logProbs.array(), await b.logProbs.array());
  assertEquals([a.lengths, a.groupSize], [b.lengths, 1]);
  disposeRollout(a);
  disposeRollout(b);
  policy.dispose();
});

Deno.test("remote greedy sends temperature 0, n 1 and no seed, and returns the server's tokens", async () => {
  const server = startScriptedServer(() => [3, 4, EOS], EOS);
  try {
    const sampler = remoteSampler({ baseUrl: server.url, model: "tiny" });
    const before = tf.memory().numTensors;
    // The policy argument is not used by a remote sampler.
    const r = await sampler.greedy(undefined as never, [[1, 2], [5]], {
      maxTokens: 4,
      eosToken: EOS,
      stopTokens: [7],
    });
    assertEquals(server.requests.length, 1);
    const body = server.requests[0];
    assertEquals(body.temperature, 0);
    assertEquals(body.n, 1);
    assertEquals("seed" in body, false);
    assertEquals(body.prompt, [[1, 2], [5]]);
    assertEquals(body.max_tokens, 4);
    assertEquals(body.stop_token_ids, [EOS, 7]);
    assertEquals(await r.tokens.array(), [[3, 4, EOS], [3, 4, EOS]]);
    assertEquals(await r.logProbs.array(), [[-0.5, -0.5, -0.5], [-0.5, -0.5, -0.5]]);
    assertEquals([r.lengths, r.groupSize, r.promptTokens], [[3, 3], 1, [[1, 2], [5]]]);
    disposeRollout(r);
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await server.close();
  }
});

Deno.test("remote greedy refuses a response budget below 1 before sending anything", async () => {
  const server = startScriptedServer(() => [EOS], EOS);
  try {
    const sampler = remoteSampler({ baseUrl: server.url, model: "tiny" });
    await assertRejects(
      () => sampler.greedy(undefined as never, [[1]], { maxTokens: 0, eosToken: EOS }),
      RangeError,
      "Cannot decode greedily on the server at http://127.0.0.1:",
    );
    assertEquals(server.requests.length, 0);
  } finally {
    await server.close();
  }
});
