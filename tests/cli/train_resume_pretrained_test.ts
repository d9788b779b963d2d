// `deno task train --model … --resume`: a pretrained run (full fine-tuning with a KL reference,
// LoRA, PPO's critic) stopped at its checkpoint and resumed ends bit for bit where the same run
// without a stop ends: the same weights, Adam states and metrics (timings aside).
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { main } from "../../lib/cli/train.ts";

const FIXTURES = new URL("../fixtures/hf/", import.meta.url).pathname;
const DATA = new URL("../fixtures/math_tiny.jsonl", import.meta.url).pathname;
const COMMON = [
  "--backend",
  "cpu",
  "--prompts-per-step",
  "2",
  "--group-size",
  "2",
  "--max-tokens",
  "5",
  "--eval-every",
  "0",
  "--checkpoint-every",
  "2",
  "--quiet",
];

async function metricsWithoutTimes(out: string): Promise<unknown[]> {
  return (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((line) =>
    Object.fromEntries(
      Object.entries(JSON.parse(line)).filter(([key]) => !key.startsWith("time/")),
    )
  );
}

const CASES: { name: string; flags: string[]; weights: string }[] = [
  {
    name: "full fine-tuning with a KL reference (grpo, qwen2)",
    flags: ["--algorithm", "grpo", "--model", `${FIXTURES}qwen2`, "--data", DATA, "--beta", "0.1"],
    weights: "model.safetensors",
  },
  {
    name: "LoRA (rloo, llama)",
    flags: [
      "--algorithm",
      "rloo",
      "--model",
      `${FIXTURES}llama`,
      "--data",
      DATA,
      "--lora-rank",
      "2",
    ],
    weights: "adapter_model.safetensors",
  },
  {
    name: "PPO's critic (qwen3)",
    flags: ["--algorithm", "ppo", "--model", `${FIXTURES}qwen3`, "--data", DATA],
    weights: "value_model.safetensors",
  },
];

for (const { name, flags, weights } of CASES) {
  Deno.test(`train --resume of a pretrained run continues bit for bit: ${name}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await main([...flags, ...COMMON, "--steps", "4", "--out", `${dir}/straight`]);
      await main([...flags, ...COMMON, "--steps", "2", "--out", `${dir}/stopped`]);
      await main([...flags, ...COMMON, "--steps", "4", "--out", `${dir}/stopped`, "--resume"]);
      for (const file of [weights, "optimizer.safetensors"]) {
        const [a, b] = await Promise.all(
          ["straight", "stopped"].map((run) => Deno.readFile(`${dir}/${run}/checkpoint/${file}`)),
        );
        assertEquals(a.length, b.length, file);
        assertEquals(a.findIndex((byte, i) => byte !== b[i]), -1, `${file} differs`);
      }
      assertEquals(
        await metricsWithoutTimes(`${dir}/stopped`),
        await metricsWithoutTimes(`${dir}/straight`),
      );
      const state = JSON.parse(
        await Deno.readTextFile(`${dir}/stopped/checkpoint/trainer_state.json`),
      );
      assertEquals(state.state.step, 4);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("train --resume of a pretrained run refuses another model, and asks for --model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    const model = (name: string) => ["--model", `${FIXTURES}${name}`, "--data", DATA];
    await main([...model("llama"), "--algorithm", "grpo", ...COMMON, "--steps", "2", "--out", out]);
    const resume = ["--resume", ...COMMON, "--steps", "3", "--out", out];
    await assertRejects(
      () => main(resume),
      TypeError,
      "fine-tunes a pretrained model; give the flags it started with again (--model, --data",
    );
    const error = await assertRejects(() => main([...model("llama_untied"), ...resume]), Error);
    assertStringIncludes(error.message, "is not the model the run in");
    // The untouched checkpoint still resumes with the right model.
    await main([...model("llama"), ...resume]);
    const state = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/trainer_state.json`));
    assertEquals(state.state.step, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
