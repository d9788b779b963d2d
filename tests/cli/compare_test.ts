/**
 * `deno task compare --quick` end to end, exactly as the README runs it, in a subprocess: the files
 * it writes and the schema of `summary.json`; and the command line's checks.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { parseCompareArgs } from "../../lib/cli/compare.ts";
import { chromium, runsHere } from "../../tools/requirement.ts";

const ROWS = ["ppo", "grpo", "remax", "rloo", "trepo", "trepo-every", "reinforce"];

interface Row {
  algorithm: string;
  initialAccuracy: number;
  finalAccuracy: { mean: number; std: number };
  generatedTokens: number;
  wallSeconds: number;
  peakRssMb: number;
  modelsHeld: string[];
  parameters: number;
  adamStepsPerUpdate: number;
  allEqualGroupFraction: number | null;
  nonzeroAdvantageFraction: number | null;
}

interface Section {
  task: string;
  seeds: number;
  steps: number;
  samePromptsPerStep: boolean;
  rows: Row[];
  curves: Record<string, { step: number }[]>;
}

function checkSection(section: Section, name: string): void {
  assertEquals(section.task, "addition", name);
  assertEquals([section.seeds, section.steps], [1, 6], name);
  assertEquals(section.samePromptsPerStep, true, `${name}: same prompts per step`);
  assertEquals(section.rows.map((r) => r.algorithm), ROWS, name);
  for (const row of section.rows) {
    const what = `${name} ${row.algorithm}`;
    for (const a of [row.initialAccuracy, row.finalAccuracy.mean]) {
      assert(a >= 0 && a <= 1, `${what}: accuracy ${a}`);
    }
    assertEquals(row.finalAccuracy.std, 0, `${what}: one seed`);
    assert(row.generatedTokens > 0, `${what}: tokens`);
    assert(row.wallSeconds > 0, `${what}: seconds`);
    assert(row.peakRssMb > 10, `${what}: memory`);
    assert(row.modelsHeld.includes("policy") && row.modelsHeld.includes("reward"), what);
    assert(Number.isInteger(row.parameters) && row.parameters > 0, `${what}: parameters`);
    assert(Number.isInteger(row.adamStepsPerUpdate) && row.adamStepsPerUpdate >= 1, what);
    for (const f of [row.allEqualGroupFraction, row.nonzeroAdvantageFraction]) {
      assert(f === null || (f >= 0 && f <= 1), `${what}: fraction ${f}`);
    }
    assertEquals(section.curves[row.algorithm].map((p) => p.step), [0, 2, 4, 6], what);
  }
  const byName = Object.fromEntries(section.rows.map((r) => [r.algorithm, r]));
  // PPO holds a critic: more parameters than GRPO; the group methods report all-equal groups.
  assert(byName.ppo.modelsHeld.includes("value"));
  assert(byName.ppo.parameters > byName.grpo.parameters);
  for (const name of ["grpo", "rloo", "trepo"]) assert(byName[name].allEqualGroupFraction !== null);
  // The same warm start for every algorithm of a seed.
  assertEquals(new Set(section.rows.map((r) => r.initialAccuracy)).size, 1, name);
}

interface Budget {
  budget: string;
  amount: number;
  rows: { algorithm: string; perSeed: number[] }[];
  leader: string;
  verdict: string;
}

function checkCredit(
  credit: Section & {
    metric: string;
    setup: {
      task: { maxResponseTokens: number; alphabet: string; length: number; evalPrompts: number };
      learningRate: number;
    };
    startSignal: { runs: number; allEqualGroupFraction: { mean: number } };
    equalUpdates: Budget;
    equalTokens: Budget;
  },
): void {
  assertEquals([credit.task, credit.metric], ["vigenereCipher", "eval/sampled_reward"]);
  assertEquals([credit.seeds, credit.steps, credit.samePromptsPerStep], [1, 2, true]);
  assertEquals(credit.rows.map((r) => r.algorithm), ROWS);
  const { task } = credit.setup;
  assertEquals([task.maxResponseTokens, task.alphabet, task.length, task.evalPrompts], [
    17,
    "abcd",
    16,
    100,
  ]);
  assertEquals(credit.setup.learningRate, 3e-4);
  for (const row of credit.rows) {
    assertEquals(credit.curves[row.algorithm].map((p) => p.step), [0, 2], row.algorithm);
    assert(row.finalAccuracy.mean >= 0 && row.finalAccuracy.mean <= 1, row.algorithm);
  }
  // Continuous rewards: the warm start's groups are not all-equal.
  assertEquals(credit.startSignal.runs, ROWS.length);
  assert(credit.startSignal.allEqualGroupFraction.mean < 0.5);
  assertEquals([credit.equalUpdates.budget, credit.equalUpdates.amount], ["updates", 2]);
  assertEquals(credit.equalTokens.budget, "tokens");
  const smallest = Math.min(...credit.rows.map((r) => r.generatedTokens));
  assertEquals(credit.equalTokens.amount, smallest);
  for (const budget of [credit.equalUpdates, credit.equalTokens]) {
    assertEquals(budget.rows.map((r) => r.algorithm), ROWS);
    assertStringIncludes(budget.verdict, `${budget.leader} has the highest mean`);
    assertStringIncludes(budget.verdict, "With one seed no difference can be tested");
  }
}

Deno.test({
  name: "compare --quick writes summary.json (schema), summary.md, report.html and curves.png",
  // The subprocess opens Chromium for curves.png and spawns one process per run.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "trepo_compare_" });
    try {
      const command = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "lib/cli/compare.ts",
          "--quick",
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      });
      const { code, stdout, stderr } = await command.output();
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assertEquals(code, 0, text);
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      checkSection(summary, "main");
      checkSection(summary.hard, "hard");
      checkCredit(summary.credit);
      // --quick: 4 prompts × 4 responses per update, the same for every algorithm.
      assertEquals(summary.setup.promptsPerStep, 4);
      assertEquals(summary.setup.groupSize, 4);
      for (const name of ROWS) assertEquals(summary.setup.configs[name].promptsPerStep, 4);
      const md = await Deno.readTextFile(`${out}/summary.md`);
      assertStringIncludes(md, "## Main comparison");
      assertStringIncludes(md, "## Hard variant");
      assertStringIncludes(md, "| trepo |");
      assertStringIncludes(md, "## Credit variant");
      assertStringIncludes(md, "### At equal generated tokens");
      assertStringIncludes(md, summary.credit.equalTokens.verdict);
      assertStringIncludes(await Deno.readTextFile(`${out}/report.html`), "Plotly.newPlot");
      if (runsHere("compare: the curves.png check", chromium())) {
        const png = await Deno.readFile(`${out}/curves.png`);
        assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("compare: quick defaults, explicit flags win", () => {
  const quick = parseCompareArgs(["--quick"]);
  assertEquals([quick.seeds, quick.steps, quick.evalLimit, quick.hard], [1, 6, 50, true]);
  assertEquals(quick.algorithms, ROWS);
  const full = parseCompareArgs(["--seeds", "3", "--no-hard", "--algorithms", "grpo,dr-grpo"]);
  assertEquals([full.seeds, full.steps, full.evalLimit, full.hard], [3, 80, undefined, false]);
  assertEquals([full.sftSteps, full.sftTarget, quick.sftTarget], [2000, 0.65, null]);
  assertEquals(parseCompareArgs(["--sft-target", "none"]).sftTarget, null);
  assertEquals(full.algorithms, ["grpo", "dr_grpo"]);
  assertEquals(parseCompareArgs(["--quick", "--steps=9"]).steps, 9);
  // The credit variant.
  assertEquals(
    [
      quick.credit,
      quick.creditSeeds,
      quick.creditSteps,
      quick.creditEvalEvery,
      quick.creditSftSteps,
    ],
    [true, 1, 2, 2, 20],
  );
  assertEquals([full.creditSeeds, full.creditSteps, full.creditLearningRate], [3, 40, 3e-4]);
  assertEquals([full.creditAlphabet, full.creditLength, full.creditTaskSeed], ["abcd", 16, 1]);
  assertEquals([full.creditSftSteps, full.creditSftTarget, quick.creditSftTarget], [
    600,
    0.4,
    null,
  ]);
  assertEquals(parseCompareArgs(["--credit-sft-target", "none"]).creditSftTarget, null);
  assertEquals(parseCompareArgs(["--no-credit"]).credit, false);
  assertEquals([full.main, parseCompareArgs(["--no-main"]).main], [true, false]);
  assertEquals(parseCompareArgs(["--credit-learning-rate", "default"]).creditLearningRate, null);
  const custom = parseCompareArgs(["--credit-length", "8", "--credit-alphabet", "xyz"]);
  assertEquals([custom.creditLength, custom.creditAlphabet], [8, "xyz"]);
});

Deno.test("compare: bad command lines", () => {
  const context = "Cannot parse the command line";
  assertThrows(
    () => parseCompareArgs(["--steps", "0"]),
    RangeError,
    `${context}: --steps must be an integer ≥ 1, got "0"`,
  );
  assertThrows(
    () => parseCompareArgs(["--group-size", "1"]),
    RangeError,
    `${context}: --group-size must be an integer ≥ 2, got "1"`,
  );
  assertThrows(
    () => parseCompareArgs(["--seeds"]),
    RangeError,
    `${context}: --seeds needs a value`,
  );
  assertThrows(
    () => parseCompareArgs(["--fast"]),
    RangeError,
    `${context}: unknown option --fast (see --help)`,
  );
  assertThrows(
    () => parseCompareArgs(["--fast", "1"]),
    RangeError,
    `${context}: unknown option --fast (see --help)`,
  );
  assertThrows(
    () => parseCompareArgs(["grpo"]),
    RangeError,
    `${context}: unexpected argument "grpo"`,
  );
  assertThrows(
    () => parseCompareArgs(["--algorithms", "grpo,dpo"]),
    RangeError,
    'Cannot find the comparison row: "dpo" is neither a named row (trepo-every) nor an algorithm; Cannot find the algorithm: unknown algorithm',
  );
  assertThrows(
    () => parseCompareArgs(["--threshold-gain", "x"]),
    RangeError,
    `${context}: --threshold-gain must be a number, got "x"`,
  );
  assertThrows(
    () => parseCompareArgs(["--backend", "tpu"]),
    RangeError,
    `${context}: --backend must be one of`,
  );
  assertThrows(() => parseCompareArgs(["--task", "chess"]), RangeError, "unknown task");
  assertThrows(
    () => parseCompareArgs(["--credit-learning-rate", "0"]),
    RangeError,
    `${context}: --credit-learning-rate must be greater than 0 or "default", got "0"`,
  );
  assertThrows(
    () => parseCompareArgs(["--credit-alphabet", "a>"]),
    RangeError,
    "Cannot create the Vigenère cipher task: alphabet must hold at least two distinct",
  );
  assertThrows(
    () => parseCompareArgs(["--credit-length", "65"]),
    RangeError,
    "Cannot create the Vigenère cipher task: length must be at most 64, got 65",
  );
  assertThrows(
    () => parseCompareArgs(["--credit-sft-target", "1.5"]),
    RangeError,
    `${context}: --credit-sft-target must be in (0, 1] or "none", got "1.5"`,
  );
  assertThrows(
    () => parseCompareArgs(["--no-main", "--no-hard", "--no-credit"]),
    RangeError,
    `${context}: --no-main, --no-hard and --no-credit leave nothing to run`,
  );
  // Without the credit variant its settings are not checked.
  assertEquals(parseCompareArgs(["--no-credit", "--credit-length", "65"]).credit, false);
});

Deno.test({
  name: "compare: SIGINT keeps the finished runs, and --resume skips them",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "trepo_compare_resume_" });
    const tiny = [
      "run",
      "-A",
      "lib/cli/compare.ts",
      "--no-hard",
      "--no-credit",
      "--seeds",
      "1",
      "--steps",
      "1",
      "--algorithms",
      "grpo,rloo",
      "--sft-steps",
      "2",
      "--sft-target",
      "none",
      "--eval-limit",
      "2",
      "--prompts-per-step",
      "1",
      "--group-size",
      "2",
      "--backend",
      "cpu",
      "--out",
      out,
    ];
    const grpo = `${out}/tmp/runs/main/grpo-s0.result.json`;
    try {
      // Interrupt once grpo's run is saved (rloo's is under way or about to start).
      const first = new Deno.Command(Deno.execPath(), {
        args: tiny,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const outputs = first.output();
      for (let i = 0; i < 1200; i++) {
        try {
          await Deno.stat(grpo);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      first.kill("SIGINT");
      const { code, stderr } = await outputs;
      const said = new TextDecoder().decode(stderr);
      assertEquals(code, 130, said);
      assertStringIncludes(said, `Interrupted: 1 finished run(s) are kept in ${out}/tmp/runs`);
      const saved = await Deno.readTextFile(grpo);
      // Before the fix there was no --resume: every run was made again.
      const second = await new Deno.Command(Deno.execPath(), {
        args: [...tiny, "--resume"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(second.stdout) +
        new TextDecoder().decode(second.stderr);
      assertEquals(second.code, 0, text);
      assertStringIncludes(text, "[main s0] warm start (kept, --resume)");
      assertStringIncludes(text, "[main s0] grpo: kept (--resume)");
      assert(!text.includes("rloo: kept"), text);
      assertEquals(await Deno.readTextFile(grpo), saved);
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      assertEquals(summary.rows.map((r: { algorithm: string }) => r.algorithm), ["grpo", "rloo"]);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("compare: --quick writes under the git-ignored results/quick/; duplicates are refused", () => {
  // Before the fix --quick wrote over the committed results/compare/.
  assertEquals(parseCompareArgs(["--quick"]).out, "results/quick/compare");
  assertEquals(parseCompareArgs([]).out, "results/compare");
  assertEquals(parseCompareArgs(["--quick", "--out", "x"]).out, "x");
  assertEquals(parseCompareArgs(["--resume"]).resume, true);
  assertThrows(
    () => parseCompareArgs(["--algorithms", "grpo,rloo,grpo"]),
    RangeError,
    "Cannot parse the command line: --algorithms names grpo twice; name each row once",
  );
});

Deno.test({
  name:
    "compare: the trepo-every row's saved run evaluated every position, and equal tokens count its continuations",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "trepo_compare_rows_" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "lib/cli/compare.ts",
          "--no-main",
          "--no-hard",
          "--algorithms",
          "grpo,trepo-every",
          "--credit-seeds",
          "1",
          "--credit-steps",
          "1",
          "--credit-eval-every",
          "1",
          "--credit-sft-steps",
          "2",
          "--credit-sft-target",
          "none",
          "--credit-eval-samples",
          "1",
          "--credit-length",
          "8",
          "--prompts-per-step",
          "1",
          "--group-size",
          "2",
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assertEquals(code, 0, text);
      // The run as its worker saved it: the config its steps were given, and what they did.
      const saved = JSON.parse(
        await Deno.readTextFile(`${out}/tmp/runs/credit/trepo-every-s0.result.json`),
      );
      const run = saved.result.run;
      assertEquals([run.algorithm, run.recipe], ["trepo-every", "trepo"]);
      // 8 letters + EOS: responses of at most 9 tokens, interior positions 1..8.
      assertEquals([run.config.positions, run.config.continuations], [8, 4]);
      assertEquals(saved.settings.config.positions, 8);
      const step = run.records.find((r: { step: number }) => r.step === 1);
      const responses = 2;
      const responseTokens = responses * step["response_length/mean"];
      // Every interior position of both responses was continued (G = 2: no bare-prompt prefix).
      assertEquals(step["trepo/prefixes"], responseTokens - responses);
      // Each of the K = 4 continuations of a prefix samples at least one token.
      assert(step["trepo/continuation_tokens"] >= 4 * step["trepo/prefixes"], text);
      assertEquals(step["tokens/generated"], responseTokens + step["trepo/continuation_tokens"]);
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      const credit = summary.credit;
      assertEquals(credit.setup.configs["trepo-every"].positions, 8);
      assertEquals(
        summary.setup.rows.map((r: { label: string; algorithm: string }) => [r.label, r.algorithm]),
        [["grpo", "grpo"], ["trepo-every", "trepo"]],
      );
      // The equal-token budget is the smaller total, GRPO's; TRePO's total counts continuations.
      const tokens = Object.fromEntries(
        credit.rows.map((r: Row) => [r.algorithm, r.generatedTokens]),
      );
      assertEquals(tokens["trepo-every"], step["tokens/generated"]);
      assert(tokens["trepo-every"] > tokens.grpo + 4 * step["trepo/prefixes"] - 1, text);
      assertEquals(credit.equalTokens.amount, tokens.grpo);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
