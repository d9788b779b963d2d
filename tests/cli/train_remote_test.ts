// `deno task train --model <fixture> --data <file> --sampler-url …` end to end: LoRA runs through
// the fake OpenAI-compatible server (tests/remote/fake_server.ts), which loads every step's
// adapter from the folder the trainer writes, the way `vllm serve --enable-lora` does.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { main, parseTrainArgs } from "../../lib/cli/train.ts";
import { initBackend } from "../../lib/backend.ts";
import { loadPretrainedFolder } from "../../lib/models/pretrained.ts";
import { loadAdapter } from "../../lib/models/peft_adapter.ts";
import { startFakeServer } from "../remote/fake_server.ts";

const FIXTURES = new URL("../fixtures/hf/", import.meta.url).pathname;
const DATA = new URL("../fixtures/math_tiny.jsonl", import.meta.url).pathname;
const SMALL = [
  "--data",
  DATA,
  "--steps",
  "3",
  "--backend",
  "cpu",
  "--prompts-per-step",
  "2",
  "--group-size",
  "2",
  "--max-tokens",
  "6",
  "--eval-every",
  "0",
  "--quiet",
];

type Requests = { path: string; body: unknown }[];

async function served(model: string, fn: (url: string, requests: Requests) => Promise<void>) {
  await initBackend({ backend: "cpu" });
  const { policy, tokenizer } = await loadPretrainedFolder(`${FIXTURES}${model}`);
  const server = startFakeServer({
    policy,
    eosToken: tokenizer.eosTokenIds[0],
    model: "fixture",
    loadAdapter,
  });
  try {
    await fn(server.url, server.requests);
  } finally {
    await server.close();
    policy.dispose();
  }
}

async function metrics(out: string): Promise<Record<string, number>[]> {
  return (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
}

function named(requests: Requests, path: string): string[] {
  return requests.filter((r) => r.path === path).map((r) =>
    (r.body as { lora_name: string }).lora_name
  );
}

Deno.test("the fixture adapter changes the model's log-probs (so the gap checks below can fail)", async () => {
  await initBackend({ backend: "cpu" });
  const { policy: base } = await loadPretrainedFolder(`${FIXTURES}llama`);
  const adapted = await loadAdapter(base, `${FIXTURES}llama_lora`);
  const tokens = tf.tensor2d([[3, 17, 40, 5, 9, 2]], [1, 6], "int32");
  const [a, b] = [base.logits(tokens), adapted.logits(tokens)];
  const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.logSoftmax(a), tf.logSoftmax(b)))));
  assert((await gap.data())[0] > 1e-2, "the adapter hardly changes the log-probs");
  tf.dispose([tokens, a, b, gap]);
  adapted.dispose();
  base.dispose();
});

for (const algorithm of ["grpo", "trepo"]) {
  Deno.test(`train --sampler-url --adapter: ${algorithm} samples from the current adapter at every step`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await served("llama", async (url, requests) => {
        const out = `${dir}/run`;
        await main([
          "--model",
          `${FIXTURES}llama`,
          "--adapter",
          `${FIXTURES}llama_lora`,
          "--algorithm",
          algorithm,
          "--sampler-url",
          url,
          "--sampler-model",
          "fixture",
          "--out",
          out,
          ...SMALL,
        ]);
        const lines = await metrics(out);
        assertEquals(lines.map((l) => l.step), [1, 2, 3]);
        for (const l of lines) {
          // The server sampled from this step's adapter: the trainer's weights, so the log-probs
          // agree up to rounding (the base model would be off by more than 1e-2).
          assert(
            l["sampler/logprob_gap_max"] < 1e-4,
            `step ${l.step}: ${l["sampler/logprob_gap_max"]}`,
          );
        }
        const loads = named(requests, "/v1/load_lora_adapter");
        // Before step 1, and after each of the 3 updates.
        assertEquals(loads.map((n) => n.replace(/^trepo-\w+-/, "")), [
          "step-0",
          "step-1",
          "step-2",
          "step-3",
        ]);
        assertEquals(named(requests, "/v1/unload_lora_adapter"), loads.slice(0, 3));
        const sampledFrom = requests.filter((r) => r.path === "/v1/completions")
          .map((r) => (r.body as { model: string }).model);
        for (const name of loads.slice(0, 3)) assert(sampledFrom.includes(name), name);
        // Only the last adapter is kept; the checkpoint is the final adapter in PEFT's layout.
        const kept = [];
        for await (const e of Deno.readDir(`${out}/adapters`)) kept.push(e.name);
        assertEquals(kept, [loads[3]]);
        const config = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/adapter_config.json`));
        assertEquals([config.peft_type, config.r, config.lora_alpha], ["LORA", 4, 8]);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("train --sampler-url --lora-rank: a new adapter on qwen2, saved in PEFT's layout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await served("qwen2", async (url, requests) => {
      const out = `${dir}/run`;
      await main([
        "--model",
        `${FIXTURES}qwen2`,
        "--lora-rank",
        "2",
        "--lora-targets",
        "q_proj,v_proj",
        "--sampler-url",
        url,
        "--sampler-model",
        "fixture",
        "--out",
        out,
        ...SMALL,
      ]);
      assertEquals((await metrics(out)).map((l) => l.step), [1, 2, 3]);
      assertEquals(named(requests, "/v1/load_lora_adapter").length, 4);
      const config = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/adapter_config.json`));
      assertEquals([config.r, config.lora_alpha, [...config.target_modules].sort()], [
        2,
        4,
        ["q_proj", "v_proj"],
      ]);
      // The --model argument, for PEFT and vLLM (before: null).
      assertEquals(config.base_model_name_or_path, `${FIXTURES}qwen2`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --sampler-url without LoRA refuses before the first update; LoRA flags are checked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await served("qwen2", async (url, requests) => {
      await assertRejects(
        () =>
          main([
            "--model",
            `${FIXTURES}qwen2`,
            "--sampler-url",
            url,
            "--sampler-model",
            "fixture",
            "--out",
            `${dir}/run`,
            ...SMALL,
          ]),
        TypeError,
        "the policy is not a LoRA policy",
      );
      const sampled = requests.filter((r) =>
        r.path === "/v1/completions" && (r.body as { n: number }).n > 1
      );
      assertEquals(sampled.length, 0);
    });
    const model = ["--model", `${FIXTURES}qwen2`, ...SMALL];
    await assertRejects(
      () => main([...model, "--lora-alpha", "4"]),
      RangeError,
      "need --lora-rank",
    );
    await assertRejects(
      () => main([...model, "--lora-rank", "2", "--adapter", `${FIXTURES}llama_lora`]),
      RangeError,
      "not both",
    );
    await assertRejects(
      () => main([...model, "--lora-rank", "2", "--lora-targets", "c_attn"]),
      RangeError,
      "q_proj",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --sampler-timeout: seconds per sampler request, default 60", () => {
  // Before the fix there was no such flag (120 s per attempt, fixed).
  assertEquals(parseTrainArgs([]).samplerTimeout, 60);
  assertEquals(parseTrainArgs(["--sampler-timeout", "2.5"]).samplerTimeout, 2.5);
  for (const bad of ["0", "-1", "x"]) {
    let message = "";
    try {
      parseTrainArgs(["--sampler-timeout", bad]);
    } catch (error) {
      message = (error as Error).message;
    }
    assert(message.startsWith("Cannot parse the command line: --sampler-timeout must be"), bad);
  }
});
