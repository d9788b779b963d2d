/**
 * `deno run -A lib/cli/theorem.ts [--quick]` — the paper's theorems as numbers anyone can re-run.
 *
 * On responses small enough to enumerate (3 tokens + EOS, at most 4 response tokens, 2 prompts),
 * computes the exact gradient of `J = E[RM(W)]` and tests 12 policy-gradient estimators for bias
 * with many independent sampled estimates, for a tabular softmax policy and for the transformer
 * policy. Writes `summary.json`, `summary.md`, `report.html` and `theorem.png` (the main figure;
 * needs Chromium, skipped with a warning without it) to `results/theorem/` (or `--out DIR`).
 *
 * Options: `--quick` (2000 instead of 20000 estimates per estimator; well under a minute),
 * `--estimates N`, `--seed S`, `--backend cpu|wasm`, `--out DIR`, `--no-transformer`.
 *
 * @module
 */
import { BACKENDS, initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import type { BackendName } from "../backend.ts";
import type { Figure } from "../report/figure.ts";
import { figureToImage } from "../report/figure_to_image.ts";
import { type ReportSection, writeHtmlReport } from "../report/html_report.ts";
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
  backend?: BackendName;
  transformer: boolean;
}

function parseArgs(argv: readonly string[]): Args | undefined {
  const flags = parseFlags(argv, {
    quick: { value: false, default: "off", help: "2000 estimates per estimator (~20 s)" },
    estimates: { value: true, default: "20000 (quick 2000)", help: "estimates per estimator" },
    seed: { value: true, default: "2025", help: "seed of the sampled estimates" },
    backend: { value: true, default: "wasm", help: `one of ${BACKENDS.join(", ")}` },
    out: { value: true, default: "results/theorem", help: "where the results go" },
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
    out: flags.out ?? "results/theorem",
    seed: integer("seed", 2025),
    ...(flags.estimates === undefined ? {} : { estimates: integer("estimates", 1) }),
    ...(flags.backend === undefined ? {} : { backend: flags.backend as BackendName }),
    transformer: flags["no-transformer"] !== "true",
  };
}

/** One policy's section of the summary. */
interface Section {
  setup: Record<string, unknown>;
  estimators: EstimatorReport[];
}

async function runSection(
  name: string,
  policy: SequencePolicy,
  space: ResponseSpace,
  rewards: TokenRewards,
  estimates: number,
  seed: number,
  extra: Record<string, unknown>,
): Promise<Section> {
  const start = performance.now();
  console.log(`\n${name}: ${estimates} estimates per estimator`);
  const result = await runTheoremCheck({
    policy,
    space,
    rewards,
    estimators: theoremEstimators({ zraGamma: 0.9 }),
    estimates,
    groupSize: 4,
    seed,
    onEstimator: (e) =>
      console.log(
        `  ${e.name.padEnd(24)} paper ${e.expected.padEnd(9)} measured ${e.verdict.padEnd(9)} ` +
          `bias ${e.relativeBias.toFixed(4)} ± ${e.standardError.toFixed(4)}  cos ${
            e.cosine.toFixed(4)
          }  (${e.seconds.toFixed(1)} s)`,
      ),
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
      samplingSeed: seed,
      threshold: 4,
      objective: result.objective,
      objectiveFromValues: result.objectiveFromValues,
      gradientNorm: result.gradientNorm,
      scoreFunctionCheck: result.scoreFunctionCheck,
      seconds: (performance.now() - start) / 1000,
    },
    estimators: result.estimators,
  };
}

function fmt(x: number | null, digits = 4): string {
  if (x === null) return "—";
  return Math.abs(x) !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)
    ? x.toExponential(2)
    : x.toFixed(digits);
}

function markdownTable(section: Section): string {
  const rows = section.estimators.map((e) =>
    `| ${e.label} | ${e.expected} | **${e.verdict}**${e.verdict === e.expected ? "" : " ⚠"} | ${
      fmt(e.relativeBias)
    } ± ${fmt(e.standardError)} | ${fmt(e.zScore, 1)} | ${fmt(e.cosine)} | ${
      fmt(e.scale, 3)
    } | ${e.directionVerdict} | ${fmt(e.relativeVariance, 3)} | ${
      fmt(e.exactRelativeBias)
    } | ${e.samples} |`
  );
  return [
    "| estimator | paper | measured | relative bias ± SE | z | cosine | scale | direction | variance / ‖∇J‖² | exact bias | n |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

function setupLines(setup: Record<string, unknown>): string {
  return Object.entries(setup).map(([k, v]) =>
    `- \`${k}\`: ${
      typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v, 6)) : JSON.stringify(v)
    }`
  ).join("\n");
}

const NOTES = `
How to read this. Each estimator is run \`n\` times, every estimate on a fresh batch of G = 4
responses per prompt sampled with \`Random\` from the policy's exact distribution; per-sample
gradients ∇log π are exact (score Jacobian). ḡ is the mean estimate, ∇J the exact gradient of
J = (1/P) Σ_p Σ_W π(W|p)·RM(W) by autodiff of the enumerated sum. relative bias = ‖ḡ − ∇J‖/‖∇J‖;
SE = sqrt(tr Cov/n)/‖∇J‖ (the size of pure sampling noise in ḡ); verdict "unbiased" iff bias ≤ 4·SE.
"scale" = ⟨ḡ, ∇J⟩/‖∇J‖²; "direction" repeats the test after removing that best rescale. "exact bias"
is ‖E[ĝ] − ∇J‖/‖∇J‖ with E[ĝ] in closed form where one exists (— for GRPO with std scaling).
A test with n estimates cannot see a bias much below 4·SE. ⚠ marks a measured verdict that differs
from the paper's expectation; these are reported, not tuned away.

Objective. The hidden token rewards r(s, a) ~ N(0, σ_p²) (σ = 1 and 0.25 for the two prompts) define
RM(W) = Σ_t γ^(t−1) r_t with γ = 0.9, and every bias is measured against ∇E[RM] — the true
token-level objective at γ = 0.9. Theorem 1 says γ cancels: the ZRA estimator with γ = 1
(RM(W) on every token) is unbiased for it. The "ZRA, γ = 0.9" row is the tempting alternative
(Eq. 26): returns discounted from the last token, so token t of a T-token response is weighted
γ^(T−t)·RM(W).

Expected disagreements, explained. Dr. GRPO: the group mean includes the response itself, so
E[(RM_i − mean_g)∇log π_i] = ((G−1)/G)·∇J = 0.75·∇J — biased by a constant factor (a step-size
change), unbiased in direction. TRePO with m = 1 evaluated position + linear interpolation: an
interpolated segment of length L spreads its value change evenly over its L tokens, so each token
gets 1/L of its own credit in expectation — biased (shrunk, and unevenly, since segment lengths
vary); with every position evaluated TRePO is unbiased, as the paper says.
`;

function theoremFigure(sections: Record<string, Section>): Figure {
  const data: Figure["data"] = [];
  const colors = ["#1f77b4", "#ff7f0e"];
  Object.entries(sections).forEach(([name, section], i) => {
    const labels = section.estimators.map((e) => e.name);
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${name}: relative bias ± SE`,
      x: labels,
      y: section.estimators.map((e) => e.relativeBias),
      error_y: { type: "data", array: section.estimators.map((e) => e.standardError) },
      marker: { color: colors[i % 2], size: 9 },
    });
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${name}: 4·SE threshold`,
      x: labels,
      y: section.estimators.map((e) => 4 * e.standardError),
      marker: { color: colors[i % 2], symbol: "line-ew-open", size: 16, line: { width: 2 } },
    });
    data.push({
      type: "bar",
      name: `${name}: variance / ‖∇J‖²`,
      x: labels,
      y: section.estimators.map((e) => e.relativeVariance),
      marker: { color: colors[i % 2] },
      xaxis: "x2",
      yaxis: "y2",
    });
  });
  return {
    data,
    layout: {
      title: { text: "Bias of policy-gradient estimators vs exact ∇J (arXiv 2506.02553)" },
      width: 1100,
      height: 800,
      grid: { rows: 2, columns: 1, pattern: "independent" },
      yaxis: { title: { text: "‖ḡ − ∇J‖ / ‖∇J‖" } },
      yaxis2: { title: { text: "variance / ‖∇J‖² (log)" }, type: "log" },
      barmode: "group",
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  if (args === undefined) return;
  const info = await initBackend(args.backend ? { backend: args.backend } : {});
  const start = performance.now();
  const tabularEstimates = args.estimates ?? (args.quick ? 2000 : 20000);
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
  const md = [
    "# Theorem check: bias of policy-gradient estimators (arXiv 2506.02553)",
    "",
    `Command: \`${summary.command}\` (${summary.seconds.toFixed(1)} s, backend ${info.backend}).`,
    NOTES,
    ...Object.entries(sections).flatMap(([name, section]) => [
      `## ${name} policy`,
      "",
      markdownTable(section),
      "",
      "Setup:",
      "",
      setupLines(section.setup),
      "",
    ]),
  ].join("\n");
  await Deno.writeTextFile(`${args.out}/summary.md`, md);
  const figure = theoremFigure(sections);
  const written = ["summary.json", "summary.md"];
  let image: Uint8Array | undefined;
  try {
    image = await figureToImage(figure, { width: 1100, height: 800 });
    await Deno.writeFile(`${args.out}/theorem.png`, image);
    written.push("theorem.png");
  } catch (error) {
    console.warn(`theorem.png not written: ${(error as Error).message}`);
  }
  const reportSections: ReportSection[] = [
    {
      title: "Theorem check: bias of policy-gradient estimators",
      text: `${summary.command}\n${NOTES}`,
    },
    { title: "Relative bias ± SE vs the 4·SE threshold; variance (log)", figure, image },
    ...Object.entries(sections).map(([name, section]): ReportSection => ({
      title: `${name} policy`,
      text: setupLines(section.setup).replaceAll("`", ""),
      table: section.estimators.map((e) => ({
        estimator: e.label,
        paper: e.expected,
        measured: e.verdict,
        "relative bias": e.relativeBias,
        SE: e.standardError,
        z: e.zScore,
        cosine: e.cosine,
        scale: e.scale,
        direction: e.directionVerdict,
        "variance / ‖∇J‖²": e.relativeVariance,
        "exact bias": e.exactRelativeBias,
        n: e.samples,
      })),
    })),
  ];
  await writeHtmlReport(`${args.out}/report.html`, reportSections);
  written.push("report.html");
  console.log(`\nwrote ${written.map((f) => `${args.out}/${f}`).join(", ")}`);
}

if (import.meta.main) await runCommand(main);
