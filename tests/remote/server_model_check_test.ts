import { initBackend } from "../../lib/backend.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TINY_EOS, TINY_MODEL, withTinyServer } from "./fake_server.ts";

await initBackend({ backend: "cpu" });
const EOS = TINY_EOS;
const MODEL = TINY_MODEL;
const withServer = withTinyServer;

Deno.test("check accepts a matching server and learns max_model_len", async () => {
  await withServer(async (server) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    const info = await sampler.checkServer({ vocabSize: 8, eosToken: EOS, maxLength: 16 });
    assertEquals(info, { served: [MODEL], maxModelLen: 16 });
    assertEquals(server.requests.map((r) => r.path), [
      "/v1/models",
      "/v1/completions",
      "/v1/completions",
      "/v1/completions",
    ]);
  });
});

Deno.test("check refuses an unknown model and lists the served ones", async () => {
  await withServer(async (server) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: "other/model" });
    const e = await assertRejects(() => sampler.checkServer({ vocabSize: 8, eosToken: EOS }));
    assertStringIncludes(e.message, `does not serve model "other/model"; it serves "${MODEL}"`);
  });
});

Deno.test("check refuses a vocabulary size mismatch either way", async () => {
  await withServer(async (server) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 0 });
    await assertRejects(
      () => sampler.checkServer({ vocabSize: 6, eosToken: EOS }),
      RangeError,
      "larger than the local vocabSize 6",
    );
    await assertRejects(
      () => sampler.checkServer({ vocabSize: 12, eosToken: EOS }),
      RangeError,
      "smaller than the local vocabSize 12: it refused token id 11",
    );
  });
});

Deno.test("check refuses a server whose EOS differs", async () => {
  await withServer(async (server) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    await assertRejects(
      () => sampler.checkServer({ vocabSize: 8, eosToken: 3 }),
      Error,
      "does not stop at the local EOS token 3",
    );
  });
});

Deno.test("limits: max_model_len below maxLength, and prompt + max_tokens beyond it", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL });
    await assertRejects(
      () => sampler.checkServer({ vocabSize: 8, eosToken: EOS, maxLength: 32 }),
      RangeError,
      'max_model_len for "tiny/test-model" is 12, less than the local maxLength 32',
    );
    await sampler.checkServer({ vocabSize: 8, eosToken: EOS });
    const before = server.requests.length;
    await assertRejects(
      () => sampler.sample(policy, [[1, 2, 3, 4, 5]], { maxTokens: 8, eosToken: EOS, seed: 1 }),
      RangeError,
      "5 tokens + max_tokens 8 = 13 exceeds the server's max_model_len 12",
    );
    assertEquals(server.requests.length, before);
    disposeRollout(
      await sampler.sample(policy, [[1, 2, 3, 4]], { maxTokens: 8, eosToken: EOS, seed: 1 }),
    );
  }, { maxModelLen: 12 });
});
