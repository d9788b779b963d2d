/**
 * `lib/cli/train.ts` in fresh processes: resume across processes is bit-identical; bad input
 * exits with status 1 and a message naming the problem.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";

const CLI = new URL("../../lib/cli/train.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function linesWithoutTimes(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l !== "").map((l) =>
    Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !k.startsWith("time/")))
  );
}

const TINY = [
  "--algorithm",
  "rloo",
  "--sft-steps",
  "3",
  "--sft-batch-size",
  "4",
  "--d-model",
  "16",
  "--layers",
  "1",
  "--eval-every",
  "2",
  "--eval-limit",
  "10",
  "--checkpoint-every",
  "2",
  "--prompts-per-step",
  "2",
  "--group-size",
  "2",
  "--max-tokens",
  "4",
  "--seed",
  "3",
];

Deno.test("cli: 4 steps in one process = 2 steps, then --resume in a fresh process for 2 more", async () => {
  const root = await Deno.makeTempDir();
  const straight = await run([...TINY, "--steps", "4", "--out", `${root}/a`]);
  assertEquals(straight.code, 0, straight.stderr);
  assertStringIncludes(straight.stdout, `Results in ${root}/a/`);
  const first = await run([...TINY, "--steps", "2", "--out", `${root}/b`, "--quiet"]);
  assertEquals(first.code, 0, first.stderr);
  const resumed = await run([
    "--algorithm",
    "rloo",
    "--resume",
    "--steps",
    "4",
    "--out",
    `${root}/b`,
    "--quiet",
  ]);
  assertEquals(resumed.code, 0, resumed.stderr);
  const a = await Deno.readFile(`${root}/a/checkpoint/model.safetensors`);
  const b = await Deno.readFile(`${root}/b/checkpoint/model.safetensors`);
  assertEquals(a.length, b.length);
  assert(a.every((byte, i) => byte === b[i]), "the resumed weights differ from the straight run's");
  const linesA = linesWithoutTimes(await Deno.readTextFile(`${root}/a/metrics.jsonl`));
  const linesB = linesWithoutTimes(await Deno.readTextFile(`${root}/b/metrics.jsonl`));
  assertEquals(linesA.map((l) => l.step), [0, 1, 2, 3, 4]);
  assertEquals(linesB, linesA);
  await Deno.remove(root, { recursive: true });
});

Deno.test("cli: bad input exits with status 1 and names the problem", async () => {
  const root = await Deno.makeTempDir();
  const cases: [string[], string][] = [
    [["--steps", "0"], '--steps must be an integer ≥ 1, got "0"'],
    [["--task", "chess"], 'unknown task "chess", expected one of "addition"'],
    [["--algorithm", "dpo"], 'unknown algorithm "dpo", expected one of "ppo"'],
    [
      ["--resume", "--out", `${root}/none`],
      `Cannot resume training: no checkpoint in ${root}/none/checkpoint`,
    ],
    [[
      "--sft-steps",
      "0",
      "--d-model",
      "16",
      "--layers",
      "1",
      "--group-size",
      "1",
      "--algorithm",
      "rloo",
      "--out",
      `${root}/x`,
    ], "config.groupSize must be at least 2 for rloo, got 1"],
    [[
      "--sft-steps",
      "0",
      "--d-model",
      "16",
      "--layers",
      "1",
      "--beta",
      "big",
      "--out",
      `${root}/y`,
    ], 'config.beta must be a finite number, got "big"'],
    [["--bogus", "1"], "unknown option --bogus (see --help for the options of grpo)"],
    [["--seed"], "--seed needs a value"],
  ];
  for (const [args, message] of cases) {
    const result = await run([...args, "--quiet"]);
    assertEquals(result.code, 1, `${args.join(" ")}: ${result.stdout}`);
    assertStringIncludes(result.stderr, message);
  }
  await Deno.remove(root, { recursive: true });
});

const QUICK = [
  "--algorithm",
  "rloo",
  "--sft-steps",
  "0",
  "--d-model",
  "16",
  "--layers",
  "1",
  "--eval-every",
  "0",
  "--prompts-per-step",
  "2",
  "--group-size",
  "2",
  "--max-tokens",
  "4",
  "--quiet",
];

Deno.test("cli: a run folder holds one run: a rerun refuses and changes nothing; --overwrite moves it aside", async () => {
  const root = await Deno.makeTempDir();
  const out = `${root}/r`;
  const first = await run([...QUICK, "--steps", "3", "--out", out]);
  assertEquals(first.code, 0, first.stderr);
  const metrics = await Deno.readTextFile(`${out}/metrics.jsonl`);
  const again = await run([...QUICK, "--steps", "1", "--out", out]);
  assertEquals(again.code, 1);
  assertStringIncludes(again.stderr, `Cannot start a run in ${out}: it already holds one`);
  assertEquals(await Deno.readTextFile(`${out}/metrics.jsonl`), metrics);
  const fresh = await run([...QUICK, "--steps", "1", "--out", out, "--overwrite"]);
  assertEquals(fresh.code, 0, fresh.stderr);
  assertEquals(linesWithoutTimes(await Deno.readTextFile(`${out}/metrics.jsonl`)).length, 1);
  const aside = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => n !== "r");
  assertEquals(aside.length, 1);
  assertEquals(await Deno.readTextFile(`${root}/${aside[0]}/metrics.jsonl`), metrics);
  // --resume with a seed or steps that would change the run refuses.
  const seed = await run(["--resume", "--seed", "5", "--steps", "4", "--out", out, "--quiet"]);
  assertEquals(seed.code, 1);
  assertStringIncludes(seed.stderr, `seed is 5 but the run in ${out} has 0`);
  const shrink = await run(["--resume", "--out", `${root}/${aside[0]}`, "--steps", "2"]);
  assertEquals(shrink.code, 1);
  assertStringIncludes(shrink.stderr, "never shortened below its checkpoint");
  await Deno.remove(root, { recursive: true });
});

Deno.test("cli: a second run on a busy folder refuses at once; SIGINT names the checkpoint and the resume command", async () => {
  const root = await Deno.makeTempDir();
  const out = `${root}/r`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      ...QUICK,
      "--steps",
      "100000",
      "--checkpoint-every",
      "2",
      "--out",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  while (!(await exists(`${out}/checkpoint/config.json`))) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const second = await run([...QUICK, "--steps", "2", "--out", out, "--resume"]);
  assertEquals(second.code, 1);
  assertStringIncludes(second.stderr, `${out} is in use by run pid ${child.pid} since `);
  child.kill("SIGINT");
  const ended = await child.output();
  const stderr = new TextDecoder().decode(ended.stderr);
  assertEquals(ended.code, 130, stderr);
  const match = stderr.match(
    /Interrupted\. The last checkpoint \(step (\d+)\) is in (\S+)\/checkpoint\. Resume with: deno task train --resume --out (\S+)/,
  );
  assert(match !== null, stderr);
  assertEquals([match[2], match[3]], [out, out]);
  assertEquals(await exists(`${out}/.lock`), false);
  const step = Number(match[1]);
  const saved = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/trainer_state.json`));
  assertEquals(saved.state.step, step);
  const resumed = await run(["--resume", "--out", out, "--steps", String(step + 1)]);
  assertEquals(resumed.code, 0, resumed.stderr);
  assertStringIncludes(
    resumed.stdout,
    `rloo on addition, resuming from step ${step} of ${step + 1}`,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("cli: sources are checked before any work, and each error names the flag to use", async () => {
  const root = await Deno.makeTempDir();
  const checkpoint = `${root}/r/checkpoint`;
  assertEquals((await run([...QUICK, "--steps", "1", "--out", `${root}/r`])).code, 0);
  await Deno.writeTextFile(`${root}/file`, "");
  const llama = "tests/fixtures/hf/llama";
  const data = "tests/fixtures/math_tiny.jsonl";
  const cases: [string[], string][] = [
    [
      ["--model", llama, "--data", data, "--task", "addition"],
      "with --model the task is --data's rows",
    ],
    [
      ["--from-checkpoint", llama],
      `it is a Hugging Face model (model_type llama), not a trepo checkpoint; train it with --model ${llama}`,
    ],
    [
      ["--model", checkpoint, "--data", data],
      `it is a trepo checkpoint (the built-in policy), not a Hugging Face model; start from it with --from-checkpoint ${checkpoint}`,
    ],
    [
      ["--model", "tests/fixtures/hf/llamx", "--data", data],
      "Cannot load --model tests/fixtures/hf/llamx: no such folder (it looks like a local path, so the Hub was not asked; tests/fixtures/hf holds gpt2, gpt2_lora, llama",
    ],
    [["--model", "./llama", "--data", data], "Cannot load --model ./llama: no such folder"],
    [["--model", "tests/llama", "--data", data], "Cannot load --model tests/llama: no such folder"],
    [
      ["--out", `${root}/file`, ...QUICK],
      `Cannot create the run folder ${root}/file: it is a file`,
    ],
    [["--max-tokens", "5", "--out", `${root}/m`], "(6 + 5 = 11 > 10); give maxTokens at most 4"],
    [["--overwrite", "--resume", "--out", `${root}/r`], "give one of them"],
  ];
  for (const [args, message] of cases) {
    const result = await run(args);
    assertEquals(result.code, 1, `${args.join(" ")}: ${result.stdout}`);
    assertStringIncludes(result.stderr, message);
    assert(!result.stdout.includes("warm start"), `${args.join(" ")}: ${result.stdout}`);
  }
  assertEquals(await Deno.stat(`${root}/m`).then(() => true, () => false), false);
  await Deno.remove(root, { recursive: true });
});

Deno.test("cli: the README's pretrained command fits its response budget to the model (maxLength − longest prompt)", async () => {
  const root = await Deno.makeTempDir();
  const result = await run([
    "--model",
    "tests/fixtures/hf/llama",
    "--data",
    "tests/fixtures/math_tiny.jsonl",
    ...["--steps", "1", "--eval-every", "0", "--prompts-per-step", "1", "--group-size", "2"],
    ...["--out", `${root}/r`, "--quiet"],
  ]);
  assertEquals(result.code, 0, result.stderr);
  // The longest templated prompt of math_tiny has 96 tokens; the fixture has 128 positions.
  assertEquals(JSON.parse(await Deno.readTextFile(`${root}/r/run.json`)).maxTokens, 128 - 96);
  const tooLong = await run([
    ...["--model", "tests/fixtures/hf/llama", "--data", "tests/fixtures/math_tiny.jsonl"],
    ...["--max-tokens", "33", "--out", `${root}/s`],
  ]);
  assertEquals(tooLong.code, 1);
  assertStringIncludes(tooLong.stderr, "96 + 33 = 129 > 128); give --max-tokens at most 32");
  assert(!tooLong.stdout.includes("step 0"), tooLong.stdout);
  await Deno.remove(root, { recursive: true });
});
