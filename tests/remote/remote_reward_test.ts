import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { remoteReward } from "../../lib/score/remote_reward.ts";
import { score } from "../../lib/score/score.ts";
import { ServerError } from "../../lib/remote/server_client.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { type FakeServer, startFakeServer } from "./fake_server.ts";

await initBackend({ backend: "cpu" });
const MODEL = "tiny/reward-model";

async function withServer(fn: (server: FakeServer) => Promise<void>): Promise<void> {
  const policy: Policy = createPolicy({
    vocabSize: 4,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 8,
    seed: 0,
  });
  const server = startFakeServer({
    policy,
    eosToken: 0,
    model: MODEL,
    reward: (text) => text.length / 10,
  });
  try {
    await fn(server);
  } finally {
    await server.close();
    policy.dispose();
  }
}

const vocab = ["<eos>", "a", "b", "="];
const tokenizer = {
  vocab,
  vocabSize: 4,
  eos: 0,
  encode: (text: string) => Array.from(text, (c) => vocab.indexOf(c)),
  decode: (ids: readonly number[]) => {
    const end = ids.indexOf(0);
    return (end < 0 ? ids : ids.slice(0, end)).map((i) => vocab[i]).join("");
  },
};

function rollout(rows: number) {
  const lengths = Array.from({ length: rows }, (_, b) => 1 + (b % 3));
  const tokens = lengths.map((l) => [...Array(l - 1).fill(1), 0, 0, 0].slice(0, 3));
  return {
    promptTokens: Array.from({ length: rows }, () => [2, 3]),
    groupSize: 1,
    lengths,
    tokens: tf.tensor2d(tokens, [rows, 3], "int32"),
    mask: tf.tensor2d(lengths.map((l) => [0, 1, 2].map((t) => (t < l ? 1 : 0))), [rows, 3]),
    logProbs: tf.zeros([rows, 3]) as tf.Tensor2D,
  };
}

for (const concurrency of [1, 2]) {
  Deno.test(`remote reward batches the calls of one score (batchSize 4, concurrency ${concurrency})`, async () => {
    await withServer(async (server) => {
      server.switches.latencyMs = 20;
      const rm = remoteReward({ baseUrl: server.url, model: MODEL, batchSize: 4, concurrency });
      const r = rollout(10);
      const result = await score(r, tokenizer, { rm });
      // Prompt "b=" plus 0, 1 or 2 "a"s: 2, 3 or 4 characters.
      assertEquals(result.values.map((v) => Math.round(v * 10)), r.lengths.map((l) => 2 + l - 1));
      assertEquals(server.requests.length, 3);
      assertEquals(server.requests.map((q) => (q.body as { input: string[] }).input.length), [
        4,
        4,
        2,
      ]);
      assertEquals(server.maxInFlight, concurrency);
      tf.dispose([r.tokens, r.mask, r.logProbs, result.rewards]);
    });
  });
}

Deno.test("remote reward retries a 503 and reports a bad model with the server's message", async () => {
  await withServer(async (server) => {
    server.switches.failNext = 1;
    const rm = remoteReward({ baseUrl: server.url, model: MODEL, backoffMs: 1 });
    assertEquals(await rm("ab", "a"), 0.3);
    assertEquals(server.requests.length, 2);
    const wrong = remoteReward({ baseUrl: server.url, model: "nope", backoffMs: 1 });
    const e = await assertRejects(() => Promise.resolve(wrong("a", "b")), ServerError);
    assertStringIncludes(e.message, "The model `nope` does not exist");
    assertStringIncludes(e.message, "POST /classify");
  });
});
