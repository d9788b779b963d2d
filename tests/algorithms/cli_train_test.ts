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
