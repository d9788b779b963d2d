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
 * Options: `--quick` (2000 instead of 20000 estimates per paper estimator, 1000 instead of 5000
 * per recipe as shipped; well under a minute), `--estimates N`, `--shipped-estimates N`,
 * `--seed S`, `--backend cpu|wasm`, `--out DIR`, `--no-transformer`.
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
import { asShippedEstimators } from "../theory/as_shipped.ts";
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
    "no-transformer": { value: false, default: "off", help: "only the tabular policy" },
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
      threshold: 4,
      objective: result.objective,
      objectiveFromValues: result.objectiveFromValues,
      gradientNorm: result.gradientNorm,
      scoreFunctionCheck: result.scoreFunctionCheck,
      seconds: (performance.now() - start) / 1000,
    },
    estimators: [...result.estimators, ...shipped.estimators],
  };
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

  await Deno.mkdir(args.out, { recursive: true });
  const summary = {
    ...sections.tabular,
    ...(sections.transformer ? { transformer: sections.transformer } : {}),
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
  const reportSections = theoremReportSections(sections, summary.command, { figure, image });
  await writeHtmlReport(`${args.out}/report.html`, reportSections);
  written.push("report.html");
  console.log(`\nwrote ${written.map((f) => `${args.out}/${f}`).join(", ")}`);
}

if (import.meta.main) await runCommand(main);
