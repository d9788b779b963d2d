// RL on a pretrained model, end to end: `deno task train --model <fixture> --data <math JSONL>`
// for 2 steps of every algorithm, then Python transformers loads each checkpoint with the logits
// trepo computes from it (runs when `python3 -c "import transformers, torch"` works; otherwise
// the test says it is skipped).
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { main } from "../../lib/cli/train.ts";
import { ALGORITHM_NAMES } from "../../lib/algorithms/train.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { assertTransformersLogits, hasTransformers } from "../models/_transformers.ts";

const MODEL = new URL("../fixtures/hf/qwen2", import.meta.url).pathname;
const DATA = new URL("../fixtures/math_tiny.jsonl", import.meta.url).pathname;
const SMALL = [
  "--steps",
  "2",
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

const python = await hasTransformers("train_pretrained_test: the transformers check");

Deno.test("train --model --data: 2 steps of every algorithm, checkpoints load in transformers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const checks: string[] = [];
    for (const algorithm of ALGORITHM_NAMES) {
      const out = `${dir}/${algorithm}`;
      await main([
        "--model",
        MODEL,
        "--data",
        DATA,
        "--algorithm",
        algorithm,
        "--out",
        out,
        ...SMALL,
      ]);
      const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      assertEquals(lines.filter((l) => l.step > 0).map((l) => l.step), [1, 2], algorithm);
      for (const l of lines.filter((l) => l.step > 0)) {
        assert(Number.isFinite(l["reward/mean"]), `${algorithm}: reward/mean ${l["reward/mean"]}`);
      }
      const run = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
      assertEquals(run.rewardFunctions, ["correctness", "format"]);
      // The checkpoint is a Hugging Face folder; trepo's logits of it are the expectation.
      const { policy } = await loadPretrained(`${out}/checkpoint`);
      const tokens = [[3, 17, 40, 5, 99, 2], [7, 8, 9]];
      const sequences = [];
      for (const row of tokens) {
        const input = tf.tensor2d([row], [1, row.length], "int32");
        const logits = policy.logits(input);
        const values = Array.from(await logits.data());
        const v = policy.config.vocabSize;
        sequences.push({
          tokens: row,
          logits: row.map((_, i) => values.slice(i * v, (i + 1) * v)),
        });
        tf.dispose([input, logits]);
      }
      policy.dispose();
      if (algorithm === "ppo") {
        const models = run.models.map((m: { role: string }) => m.role);
        assert(models.includes("value"), "ppo holds a value model");
      }
      await Deno.writeTextFile(`${out}/expected.json`, JSON.stringify({ sequences }));
      checks.push(`${out}/expected.json`, `${out}/checkpoint`);
    }
    if (python) await assertTransformersLogits(checks);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --model: bad input gets a clear error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => main(["--model", MODEL, "--algorithm", "grpo", ...SMALL]),
      RangeError,
      "--model and --data go together",
    );
    await Deno.writeTextFile(
      `${dir}/bad.jsonl`,
      '{"question":"1+1?","answer":"2"}\n{"question":"2+2?"}\n',
    );
    await assertRejects(
      () => main(["--model", MODEL, "--data", `${dir}/bad.jsonl`, "--out", `${dir}/o`, ...SMALL]),
      TypeError,
      'field "answer" is missing in row 1',
    );
    await assertRejects(
      () => main(["--model", `${dir}/none`, "--data", DATA, "--out", `${dir}/o`, ...SMALL]),
      TypeError,
      `Cannot load --model ${dir}/none: no such folder (it looks like a local path, so the Hub was not asked`,
    );
    // A finished pretrained run resumes only to extend it; a bare Hugging Face export (no
    // trainer_state.json) is not resumable, and the error says so.
    await main(["--model", MODEL, "--data", DATA, "--out", `${dir}/r`, ...SMALL]);
    const resume = ["--model", MODEL, "--data", DATA, "--out", `${dir}/r`, "--resume", ...SMALL];
    await assertRejects(() => main(resume), Error, "is complete at step 2 of 2");
    await Deno.remove(`${dir}/r/checkpoint/trainer_state.json`);
    await assertRejects(
      () => main(resume),
      Error,
      "is a pretrained model in the Hugging Face layout without trainer_state.json",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
