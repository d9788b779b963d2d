/**
 * `deno run -A lib/cli/theorem.ts [--quick]` — the paper's theorems as numbers anyone can re-run.
 *
 * On responses small enough to enumerate (3 tokens + EOS, at most 4 response tokens, 2 prompts),
 * computes the exact gradient of `J = E[RM(W)]` and tests 12 policy-gradient estimators of the
 * paper, then the 10 recipes as shipped (`asShippedEstimators`), for bias with many independent
 * sampled estimates, for a tabular softmax policy and for the transformer policy. Writes `summary.json`, `summary.md`, `report.html` and `theorem.png` (the main figure;
 * needs Chromium, skipped with a warning without it) to `results/theorem/` (`--quick`: the
 * git-ignored `results/quick/theorem/`; or `--out DIR`).
 *
 * Then the cost-aware frontier: every recipe as shipped and TRePO over K ∈ {1, 2, 4, 8} × {every
 * position, m = 4, m = 1} (`trepoFrontierEstimators`), each with its generated tokens per
 * estimate, squared bias and variance, on both short-response policies and on a long-response
 * setting (binary vocabulary + EOS, responses up to 10 tokens, EOS made rare, 2047 responses,
 * tabular). Writes `frontier.png` (relative MSE against the token budget) and `frontier.md` (the
 * README's compact table at 10k tokens and every verdict sentence) beside `theorem.png`.
 *
 * Options: `--quick` (2000 instead of 20000 estimates per paper estimator, 1000 instead of 5000
 * per recipe as shipped, 300 instead of 2000 per row of the long setting), `--estimates N`,
 * `--shipped-estimates N`, `--long-estimates N`, `--seed S`, `--backend cpu|wasm`, `--out DIR`,
 * `--no-transformer`, `--no-long`.
 *
 * @module
 */
import { BACKENDS, initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import { defaultResultsPath } from "./results_path.ts";
import type { BackendName } from "../backend.ts";
import { figureToImage } from "../report/figure_to_image.ts";
import { writeHtmlReport } from "../report/html_report.ts";
import {
  theoremFigure,
  theoremMarkdown,
  theoremReportSections,
  type TheoremSection,
} from "../experiments/theorem_summary.ts";
import { asShippedEstimators, trepoFrontierEstimators } from "../theory/as_shipped.ts";
import {
  FRONTIER_BUDGETS,
  FRONTIER_METHOD,
  frontierCompactTable,
  frontierFigure,
  frontierRows,
  frontierVerdicts,
} from "../experiments/frontier_summary.ts";
import { createPolicy, type PolicyConfig } from "../policy/transformer.ts";
import { enumerateResponses, type ResponseSpace } from "../theory/enumerate_responses.ts";
import { theoremEstimators } from "../theory/estimators.ts";
import type { SequencePolicy } from "../theory/sequence_policy.ts";
import { createTabularPolicy } from "../theory/tabular_policy.ts";
import { type EstimatorReport, runTheoremCheck } from "../theory/theorem_check.ts";
import { drawTokenRewards, type TokenRewards } from "../theory/token_rewards.ts";
import { transformerSequencePolicy } from "../theory/transformer_policy.ts";

/** The parsed command line. */
interface Args {
  quick: boolean;
  out: string;
  seed: number;
  estimates?: number;
  shippedEstimates?: number;
  backend?: BackendName;
  transformer: boolean;
  longEstimates?: number;
  long: boolean;
}

function parseArgs(argv: readonly string[]): Args | undefined {
  const flags = parseFlags(argv, {
    quick: { value: false, default: "off", help: "2000 / 1000 estimates per row (~40 s)" },
    estimates: {
      value: true,
      default: "20000 (quick 2000)",
      help: "estimates per paper estimator",
    },
    "shipped-estimates": {
      value: true,
      default: "5000 (quick 1000)",
      help: "estimates per recipe as shipped (each is a whole batch of the recipe)",
    },
    seed: { value: true, default: "2025", help: "seed of the sampled estimates" },
    backend: { value: true, default: "wasm", help: `one of ${BACKENDS.join(", ")}` },
    out: {
      value: true,
      default: "results/theorem (quick results/quick/theorem)",
      help: "where the results go",
    },
    "long-estimates": {
      value: true,
      default: "2000 (quick 300)",
      help: "estimates per row of the long-response frontier setting",
    },
    "no-transformer": { value: false, default: "off", help: "only the tabular policy" },
    "no-long": { value: false, default: "off", help: "skip the long-response frontier setting" },
  }, "Usage: deno task theorem [options]\n\nThe paper's theorems checked against exact gradients.");
  if (flags === undefined) return undefined;
  const integer = (name: string, fallback: number): number => {
    const value = flags[name] === undefined ? fallback : Number(flags[name]);
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Cannot parse the command line: --${name} must be a positive integer, got "${flags[name]}"`,
      );
    }
    return value;
  };
  return {
    quick: flags.quick === "true",
    out: flags.out ?? defaultResultsPath("results/theorem", flags.quick === "true"),
    seed: integer("seed", 2025),
    ...(flags.estimates === undefined ? {} : { estimates: integer("estimates", 1) }),
    ...(flags["shipped-estimates"] === undefined
      ? {}
      : { shippedEstimates: integer("shipped-estimates", 1) }),
    ...(flags.backend === undefined ? {} : { backend: flags.backend as BackendName }),
    transformer: flags["no-transformer"] !== "true",
    ...(flags["long-estimates"] === undefined
      ? {}
      : { longEstimates: integer("long-estimates", 1) }),
    long: flags["no-long"] !== "true",
  };
}

type Section = TheoremSection;

async function runSection(
  name: string,
  policy: SequencePolicy,
  space: ResponseSpace,
  rewards: TokenRewards,
  estimates: number,
  shippedEstimates: number,
  seed: number,
  extra: Record<string, unknown>,
): Promise<Section> {
  const start = performance.now();
  console.log(
    `\n${name}: ${estimates} estimates per paper estimator, ${shippedEstimates} per recipe as shipped`,
  );
  const log = (e: EstimatorReport) =>
    console.log(
      `  ${e.name.padEnd(24)} here ${e.expectedHere.padEnd(9)} measured ${e.verdict.padEnd(9)} ` +
        `bias ${e.relativeBias.toFixed(4)} ± ${e.standardError.toFixed(4)}  cos ${
          e.cosine.toFixed(4)
        }  scale ${e.scale.toFixed(3)}  (${e.seconds.toFixed(1)} s)`,
    );
  const common = { policy, space, rewards, groupSize: 4, onEstimator: log };
  const result = await runTheoremCheck({
    ...common,
    estimators: theoremEstimators({ zraGamma: 0.9 }),
    estimates,
    seed,
  });
  const shipped = await runTheoremCheck({
    ...common,
    estimators: asShippedEstimators(space.maxTokens),
    estimates: shippedEstimates,
    seed: seed + 1,
  });
  const grid = await runTheoremCheck({
    ...common,
    estimators: trepoFrontierEstimators(space.maxTokens),
    estimates: shippedEstimates,
    seed: seed + 2,
  });
  return {
    setup: {
      policy: name,
      ...extra,
      vocabSize: space.vocabSize,
      eosToken: space.eosToken,
      maxTokens: space.maxTokens,
      prompts: space.prompts,
      contexts: space.contexts.length,
      responses: space.responses.length,
      parameters: result.parameters,
      rewardGamma: rewards.gamma,
      groupSize: 4,
      estimates,
      shippedEstimates,
      samplingSeed: seed,
      shippedSamplingSeed: seed + 1,
      trepoGridSamplingSeed: seed + 2,
      threshold: 4,
      objective: result.objective,
      objectiveFromValues: result.objectiveFromValues,
      gradientNorm: result.gradientNorm,
      scoreFunctionCheck: result.scoreFunctionCheck,
      seconds: (performance.now() - start) / 1000,
    },
    estimators: [...result.estimators, ...shipped.estimators, ...grid.estimators],
    frontier: frontierRows([
      ...shipped.estimators.filter((e) => e.algorithm !== "trepo"),
      ...grid.estimators,
    ]),
  };
}

/** The long-response setting: only the frontier's rows (recipes as shipped + the TRePO grid). */
async function runLongSection(
  estimates: number,
  seed: number,
  backend: string,
): Promise<Section> {
  const start = performance.now();
  const setup = { vocabSize: 3, eosToken: 2, maxTokens: 10, prompts: [[0]] };
  const space = enumerateResponses(setup);
  const rewardSetup = { seed: 13, gamma: 0.9, scales: [1] };
  const rewards = drawTokenRewards(space, rewardSetup);
  const tokenBias = [0, 0, -3];
  const policy = createTabularPolicy({
    vocabSize: 3,
    contexts: space.contexts,
    seed: 17,
    scale: 1,
    tokenBias,
  });
  console.log(`
long: ${estimates} estimates per row, ${space.responses.length} responses`);
  const log = (e: EstimatorReport) =>
    console.log(
      `  ${e.name.padEnd(24)} tokens ${e.tokensPerEstimate.toFixed(0).padStart(6)}  bias² ${
        e.relativeBiasSquared.toExponential(2)
      }  var ${e.relativeVariance.toExponential(2)}  (${e.seconds.toFixed(1)} s)`,
    );
  try {
    const result = await runTheoremCheck({
      policy,
      space,
      rewards,
      groupSize: 4,
      onEstimator: log,
      estimators: [
        ...asShippedEstimators(space.maxTokens).filter((e) => e.asShipped?.algorithm !== "trepo"),
        ...trepoFrontierEstimators(space.maxTokens),
      ],
      estimates,
      seed: seed + 3,
    });
    return {
      setup: {
        policy: "tabular",
        policyInit: `logits ~ N(0, 1) + [${tokenBias}] per token (EOS rare), seed 17`,
        rewards: `r(s, a) ~ N(0, 1), seed ${rewardSetup.seed}`,
        backend,
        ...setup,
        contexts: space.contexts.length,
        responses: space.responses.length,
        parameters: result.parameters,
        rewardGamma: rewards.gamma,
        estimates,
        samplingSeed: seed + 3,
        threshold: 4,
        objective: result.objective,
        gradientNorm: result.gradientNorm,
        scoreFunctionCheck: result.scoreFunctionCheck,
        seconds: (performance.now() - start) / 1000,
      },
      estimators: result.estimators,
      frontier: frontierRows(result.estimators),
    };
  } finally {
    policy.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  if (args === undefined) return;
  const info = await initBackend(args.backend ? { backend: args.backend } : {});
  const start = performance.now();
  const tabularEstimates = args.estimates ?? (args.quick ? 2000 : 20000);
  const shippedEstimates = args.shippedEstimates ?? (args.quick ? 1000 : 5000);
  // An estimate costs the same for both policies (it lives in coefficient space; the policy only
  // enters through the score Jacobian, computed once), so both sections use the same n.
  const transformerEstimates = tabularEstimates;

  const prompts = [[0], [1]];
  const space = enumerateResponses({ vocabSize: 4, eosToken: 3, maxTokens: 4, prompts });
  const rewardSetup = { seed: 11, gamma: 0.9, scales: [1, 0.25] };
  const rewards = drawTokenRewards(space, rewardSetup);
  const sections: Record<string, Section> = {};

  const tabular = createTabularPolicy({
    vocabSize: 4,
    contexts: space.contexts,
    seed: 7,
    scale: 1,
  });
  sections.tabular = await runSection(
    "tabular",
    tabular,
    space,
    rewards,
    tabularEstimates,
    shippedEstimates,
    args.seed,
    {
      policyInit: "logits ~ N(0, 1), seed 7",
      rewards: `r(s, a) ~ N(0, scale_p²), seed ${rewardSetup.seed}, scales ${rewardSetup.scales}`,
      backend: info.backend,
    },
  );
  tabular.dispose();

  if (args.transformer) {
    const config: PolicyConfig = {
      vocabSize: 4,
      dModel: 16,
      layers: 1,
      heads: 2,
      maxLength: 5,
      seed: 7,
    };
    const model = createPolicy(config);
    const policy = transformerSequencePolicy(model, { padToken: 3 });
    sections.transformer = await runSection(
      "transformer",
      policy,
      space,
      rewards,
      transformerEstimates,
      shippedEstimates,
      args.seed,
      {
        policyConfig: config,
        rewards: `same as tabular`,
        backend: info.backend,
      },
    );
    policy.dispose();
    model.dispose();
  }

  if (args.long) {
    sections.long = await runLongSection(
      args.longEstimates ?? (args.quick ? 300 : 2000),
      args.seed,
      info.backend,
    );
  }

  await Deno.mkdir(args.out, { recursive: true });
  const frontiers = Object.fromEntries(
    Object.entries(sections).map(([name, section]) => [name, section.frontier ?? []]),
  );
  const summary = {
    ...sections.tabular,
    ...(sections.transformer ? { transformer: sections.transformer } : {}),
    ...(sections.long ? { long: sections.long } : {}),
    frontierBudgets: FRONTIER_BUDGETS,
    frontierVerdicts: Object.fromEntries(
      Object.entries(frontiers).map(([name, rows]) => [name, frontierVerdicts(rows)]),
    ),
    command: `deno run -A lib/cli/theorem.ts ${Deno.args.join(" ")}`.trim(),
    seconds: (performance.now() - start) / 1000,
  };
  await Deno.writeTextFile(`${args.out}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
  await Deno.writeTextFile(
    `${args.out}/summary.md`,
    theoremMarkdown(sections, summary.command, summary.seconds, info.backend),
  );
  const figure = theoremFigure(sections);
  const written = ["summary.json", "summary.md"];
  let image: Uint8Array | undefined;
  try {
    image = await figureToImage(figure, { width: 1300, height: 800 });
    await Deno.writeFile(`${args.out}/theorem.png`, image);
    written.push("theorem.png");
  } catch (error) {
    console.warn(`theorem.png not written: ${(error as Error).message}`);
  }
  // The README's reading of the frontier: one compact table at 10k tokens and every verdict.
  await Deno.writeTextFile(
    `${args.out}/frontier.md`,
    [
      "# Cost-aware frontier (generated by `deno task theorem`)",
      FRONTIER_METHOD,
      frontierCompactTable(frontiers, 1e4),
      "",
      ...Object.entries(frontiers).flatMap(([name, rows]) => [
        `## ${name}`,
        "",
        ...frontierVerdicts(rows),
        "",
      ]),
    ].join("\n"),
  );
  written.push("frontier.md");
  const frontier = frontierFigure(frontiers);
  let frontierImage: Uint8Array | undefined;
  try {
    frontierImage = await figureToImage(frontier, {
      width: frontier.layout!.width!,
      height: frontier.layout!.height!,
    });
    await Deno.writeFile(`${args.out}/frontier.png`, frontierImage);
    written.push("frontier.png");
  } catch (error) {
    console.warn(`frontier.png not written: ${(error as Error).message}`);
  }
  const reportSections = [
    ...theoremReportSections(sections, summary.command, { figure, image }),
    {
      title: "Cost-aware frontier: relative MSE against generated tokens",
      figure: frontier,
      image: frontierImage,
    },
  ];
  await writeHtmlReport(`${args.out}/report.html`, reportSections);
  written.push("report.html");
  console.log(`\nwrote ${written.map((f) => `${args.out}/${f}`).join(", ")}`);
}

if (import.meta.main) await runCommand(main);
