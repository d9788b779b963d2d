import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { sample } from "../../lib/sample/sample.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { ServerError } from "../../lib/remote/server_client.ts";
import { assertEquals, assertNotEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { loadPretrainedFolder } from "../../lib/models/pretrained.ts";
import { loraPolicy } from "../../lib/models/lora.ts";
import { startFakeServer } from "./fake_server.ts";

await initBackend({ backend: "cpu" });
const EOS = 0;
const MODEL = "tiny/base";
const config = { vocabSize: 8, dModel: 16, layers: 1, heads: 2, maxLength: 16 };

Deno.test("adapters: load, sample from the adapter name, unload", async () => {
  const base = createPolicy({ ...config, seed: 0 });
  // The injected loader stands in for loadAdapter(base, dir): here a differently seeded policy.
  const adapted: Policy[] = [];
  const server = startFakeServer({
    policy: base,
    eosToken: EOS,
    model: MODEL,
    loadAdapter: (_base, path) => {
      const p = createPolicy({ ...config, seed: Number(path.split("-").at(-1)) });
      adapted.push(p);
      return Promise.resolve(p);
    },
  });
  try {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 0 });
    await sampler.loadAdapter("step-1", "/adapters/step-1");
    assertEquals(server.requests.at(-1)!.body, {
      lora_name: "step-1",
      lora_path: "/adapters/step-1",
    });
    const info = await sampler.checkServer({ vocabSize: 8, eosToken: EOS });
    assertEquals(info.served, [MODEL, "step-1"]);

    const options = { groupSize: 3, maxTokens: 6, eosToken: EOS, seed: 5 };
    const fromBase = await sampler.sample(base, [[1, 2]], options);
    sampler.useModel("step-1");
    assertEquals(sampler.model, "step-1");
    const fromAdapter = await sampler.sample(base, [[1, 2]], options);
    assertEquals((server.requests.at(-1)!.body as { model: string }).model, "step-1");
    const local = await sample(adapted[0], [[1, 2]], options);
    assertEquals(await fromAdapter.logProbs.array(), await local.logProbs.array());
    assertNotEquals(await fromAdapter.logProbs.array(), await fromBase.logProbs.array());
    [fromBase, fromAdapter, local].forEach(disposeRollout);

    const twice = await assertRejects(
      () => sampler.loadAdapter("step-1", "/adapters/step-1"),
      ServerError,
    );
    assertStringIncludes(twice.message, "has already been loaded");

    await sampler.unloadAdapter("step-1");
    assertEquals(server.requests.at(-1)!.path, "/v1/unload_lora_adapter");
    const gone = await assertRejects(() => sampler.sample(base, [[1]], options), ServerError);
    assertStringIncludes(gone.message, "The model `step-1` does not exist");
  } finally {
    await server.close();
    base.dispose();
    adapted.forEach((p) => p.dispose());
  }
});

Deno.test("syncWeights: needs a LoRA policy and adapterDir; a failed load keeps the previous model", async () => {
  const fixture = new URL("../fixtures/hf/llama", import.meta.url).pathname;
  const { policy: base } = await loadPretrainedFolder(fixture);
  const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["q_proj"], seed: 1 });
  const server = startFakeServer({ policy: base, eosToken: EOS, model: MODEL }); // no LoRA support
  const dir = await Deno.makeTempDir();
  try {
    const noDir = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 0 });
    await assertRejects(() => noDir.syncWeights(base, 0), TypeError, "not a LoRA policy");
    await assertRejects(() => noDir.syncWeights(lora, 0), TypeError, "needs adapterDir");
    const sampler = remoteSampler({
      baseUrl: server.url,
      model: MODEL,
      retries: 0,
      adapterDir: dir,
    });
    const e = await assertRejects(() => sampler.syncWeights(lora, 1), ServerError);
    assertStringIncludes(e.message, "LoRA is not enabled");
    assertEquals(sampler.model, MODEL); // still the base model
    assertEquals([...Deno.readDirSync(dir)], []); // the adapter that failed to load is removed
  } finally {
    await server.close();
    lora.dispose();
    base.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
