import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { disposeRollout, type Rollout } from "../../lib/sample/rollout.ts";
import { sample } from "../../lib/sample/sample.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TINY_EOS, TINY_MODEL, withTinyServer } from "./fake_server.ts";

await initBackend({ backend: "cpu" });
const EOS = TINY_EOS;
const MODEL = TINY_MODEL;
const withServer = withTinyServer;

async function rows(r: Rollout) {
  return {
    tokens: await r.tokens.array(),
    logProbs: await r.logProbs.array(),
    mask: await r.mask.array(),
    lengths: r.lengths,
    promptTokens: r.promptTokens,
    groupSize: r.groupSize,
  };
}

const PROMPTS = [[1, 2, 3], [4], [5, 6]];

Deno.test("remote sample equals local sample with the same seed, bit for bit", async () => {
  await withServer(async (server, policy) => {
    const before = tf.memory().numTensors;
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    const options = { groupSize: 4, maxTokens: 6, eosToken: EOS, seed: 11, temperature: 0.8 };
    const remote = await sampler.sample(policy, PROMPTS, options);
    const local = await sample(policy, PROMPTS, options);
    const [a, b] = [await rows(remote), await rows(local)];
    assertEquals(a, b);
    assert(a.lengths.some((l) => l < 6) && a.lengths.some((l) => l === 6), "EOS and length rows");
    disposeRollout(remote);
    disposeRollout(local);
    assertEquals(tf.memory().numTensors, before);
  });
});

Deno.test("remote sample sends token-id prompts, n, max_tokens, logprobs, seed and token ids", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    const r = await sampler.sample(policy, PROMPTS, {
      groupSize: 2,
      maxTokens: 5,
      eosToken: EOS,
      seed: 3,
    });
    disposeRollout(r);
    const sent = server.requests.at(-1)!;
    assertEquals(sent.path, "/v1/completions");
    const body = sent.body as Record<string, unknown>;
    assertEquals(body.model, MODEL);
    assertEquals(body.prompt, PROMPTS);
    assertEquals([body.n, body.max_tokens, body.seed, body.logprobs], [2, 5, 3, 0]);
    assertEquals(body.return_tokens_as_token_ids, true);
    assertEquals(body.stop_token_ids, [EOS]);
    assertEquals(body.temperature, 1);
  });
});

Deno.test("remote sample draws its seed from rng, one draw per call", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    const rng = new Random(5);
    const r = await sampler.sample(policy, [[1]], { maxTokens: 3, eosToken: EOS, rng });
    disposeRollout(r);
    const expected = new Random(5).int(2 ** 31);
    assertEquals((server.requests.at(-1)!.body as { seed: number }).seed, expected);
    assertEquals(
      rng.state(),
      (() => {
        const g = new Random(5);
        g.int(2 ** 31);
        return g.state();
      })(),
    );
  });
});

Deno.test("continueFrom keeps each prefix, respects the budget and leaves EOS prefixes alone", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, concurrency: 2 });
    const maxTokens = 6;
    const r = await sampler.sample(policy, PROMPTS, {
      groupSize: 2,
      maxTokens,
      eosToken: EOS,
      seed: 21,
    });
    const tokens = await r.tokens.array();
    const eosRow = r.lengths.findIndex((l, b) => tokens[b][l - 1] === EOS);
    assert(eosRow >= 0, "a row ends with EOS");
    const fullRow = r.lengths.findIndex((l, b) => l === maxTokens && tokens[b][l - 1] !== EOS);
    const prefixes = [
      { row: 0, position: 0 },
      { row: 1, position: 1 },
      { row: eosRow, position: r.lengths[eosRow] },
      { row: 2, position: 2 },
      { row: 3, position: 1 },
      ...(fullRow >= 0 ? [{ row: fullRow, position: maxTokens }] : []),
    ];
    const before = server.requests.length;
    const c = await sampler.continueFrom(policy, r, prefixes, {
      samples: 3,
      maxTokens,
      eosToken: EOS,
      seed: 4,
    });
    assertEquals(c.samples, 3);
    assertEquals(c.prefixes, prefixes);
    assertEquals(c.completions.length, prefixes.length * 3);
    // Budgets 6, 5 and 4 (two prefixes share 5): three requests.
    assertEquals(server.requests.length - before, 3);
    let generated = 0;
    prefixes.forEach(({ row, position }, i) => {
      const head = tokens[row].slice(0, position);
      for (let k = 0; k < 3; k++) {
        const completion = c.completions[i * 3 + k];
        assertEquals(completion.slice(0, position), head);
        assert(completion.length <= maxTokens, "budget respected");
        const last = completion[completion.length - 1];
        assert(last === EOS || completion.length === maxTokens, "ends with EOS or at the cap");
        generated += completion.length - position;
      }
    });
    for (let k = 0; k < 3; k++) {
      assertEquals(c.completions[2 * 3 + k], tokens[eosRow].slice(0, r.lengths[eosRow]));
    }
    assertEquals(c.generatedTokens, generated);
    const budgets = server.requests.slice(before).map((q) =>
      (q.body as { max_tokens: number }).max_tokens
    );
    assertEquals(budgets.sort(), [4, 5, 6]);
    disposeRollout(r);
  });
});

Deno.test("remote sample refuses a response without logprobs or with a choice missing", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 0 });
    const before = tf.memory().numTensors;
    server.switches.dropLogprobs = true;
    const e1 = await assertRejects(() =>
      sampler.sample(policy, PROMPTS, { groupSize: 2, maxTokens: 4, eosToken: EOS, seed: 1 })
    );
    assertStringIncludes(e1.message, "no logprobs");
    server.switches.dropLogprobs = false;
    server.switches.dropChoice = true;
    const e2 = await assertRejects(() =>
      sampler.sample(policy, PROMPTS, { groupSize: 2, maxTokens: 4, eosToken: EOS, seed: 1 })
    );
    assertStringIncludes(e2.message, "3 prompts × n=2 = 6 choices, got 5");
    assertEquals(tf.memory().numTensors, before);
  });
});

Deno.test("remote sample refuses a cut-off body without retrying it", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 3, backoffMs: 1 });
    server.switches.cutBody = true;
    const before = server.requests.length;
    const e = await assertRejects(() =>
      sampler.sample(policy, PROMPTS, { maxTokens: 4, eosToken: EOS, seed: 1 })
    );
    assertStringIncludes(e.message, "not valid JSON");
    assertStringIncludes(e.message, server.url);
    assertEquals(server.requests.length - before, 1);
  });
});

Deno.test("remote sample refuses token ids outside the checked vocabulary", async () => {
  // The server refuses prompt ids ≥ 4 (so the check passes for 4) but generates from 8 tokens.
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 0 });
    await sampler.checkServer({ vocabSize: 4, eosToken: EOS });
    const e = await assertRejects(() =>
      sampler.sample(policy, [[1, 2]], { groupSize: 8, maxTokens: 8, eosToken: EOS, seed: 1 })
    );
    assertStringIncludes(e.message, "outside the vocabulary [0, 4)");
  }, { vocabSize: 4 });
});
