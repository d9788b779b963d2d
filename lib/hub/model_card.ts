/**
 * The README.md model card written next to a pushed checkpoint.
 *
 * @module
 */

/** What a model card is built from (all JSON read from the checkpoint directory). */
export interface ModelCardInput {
  /** `namespace/name` of the model repo. */
  repo: string;
  /** Parsed `config.json` (the policy configuration), if present. */
  config?: unknown;
  /** Parsed `trainer_state.json` (step, metrics, training config), if present. */
  trainerState?: unknown;
  /** Names of the files of the checkpoint. */
  files?: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** First object found under one of `keys`, in `source` or in `source.state`. */
function findObject(source: unknown, keys: readonly string[]): Json | undefined {
  const places = [source, isObject(source) ? source.state : undefined];
  for (const place of places) {
    if (!isObject(place)) continue;
    for (const key of keys) {
      const value = place[key];
      if (isObject(value)) return value;
      if (Array.isArray(value) && value.length > 0 && isObject(value[value.length - 1])) {
        return value[value.length - 1] as Json; // a metrics history: keep the final entry
      }
    }
  }
  return undefined;
}

function findString(sources: readonly unknown[], key: string): string | undefined {
  for (const source of sources) {
    if (isObject(source) && typeof source[key] === "string") return source[key] as string;
  }
  return undefined;
}

function formatValue(value: unknown): string {
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  }
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return (text ?? "").replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** Nested objects become dotted keys (`policy.dModel`), two levels deep. */
function flatten(object: Json, prefix = "", depth = 0): [string, unknown][] {
  return Object.entries(object).flatMap(([key, value]): [string, unknown][] =>
    isObject(value) && depth < 2 && Object.keys(value).length > 0
      ? flatten(value, `${prefix}${key}.`, depth + 1)
      : [[`${prefix}${key}`, value]]
  );
}

function table(object: Json): string {
  const rows = flatten(object).filter(([, v]) => v !== undefined);
  if (rows.length === 0) return "";
  return [
    "| key | value |",
    "|---|---|",
    ...rows.map(([k, v]) => `| ${formatValue(k)} | ${formatValue(v)} |`),
  ]
    .join("\n");
}

function tag(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "");
}

/**
 * Builds the model card (README.md) of a checkpoint: YAML front matter with
 * `library_name: trepo` and tags (trepo, reinforcement-learning, the algorithm and task when
 * the trainer state names them), then the model configuration from `config.json`, the training
 * configuration and the final metrics from `trainer_state.json`, and how to load it.
 *
 * The trainer state is read leniently: the training configuration is the first object under
 * `config`, `trainingConfig`, `training_config` or `args` (top level or under `state`); the
 * metrics are the object under `metrics`, `finalMetrics` or `final_metrics` (the last entry
 * when it is a list).
 *
 * Used by `pushCheckpoint`.
 *
 * @param input Repo id and the parsed JSON files of the checkpoint.
 * @returns Markdown text starting with `---` front matter.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { checkpointModelCard } from "./model_card.ts";
 *
 * const card = checkpointModelCard({
 *   repo: "org/tiny",
 *   config: { vocabSize: 16, dModel: 32 },
 *   trainerState: { step: 100, config: { algorithm: "grpo" }, metrics: { "reward/mean": 0.75 } },
 * });
 * assertStringIncludes(card, "library_name: trepo");
 * assertStringIncludes(card, "- grpo");
 * assertStringIncludes(card, "| reward/mean | 0.75 |");
 * ```
 */
export function checkpointModelCard(input: ModelCardInput): string {
  const state = input.trainerState;
  const training = findObject(state, ["config", "trainingConfig", "training_config", "args"]);
  const metrics = findObject(state, ["metrics", "finalMetrics", "final_metrics"]);
  const sources = [training, state, isObject(state) ? state.state : undefined];
  const algorithm = findString(sources, "algorithm");
  const task = findString(sources, "task");
  const tags = ["trepo", "reinforcement-learning", "text-generation"];
  for (const extra of [algorithm, task]) {
    if (extra !== undefined && tag(extra) !== "" && !tags.includes(tag(extra))) {
      tags.push(tag(extra));
    }
  }
  const step = sources.map((s) => isObject(s) ? s.step : undefined)
    .find((s) => typeof s === "number");

  const lines = [
    "---",
    "library_name: trepo",
    "tags:",
    ...tags.map((t) => `- ${t}`),
    "---",
    "",
    `# ${input.repo}`,
    "",
    "A character-level transformer policy trained with trepo, a Deno/TypeScript toolkit for " +
    "reinforcement learning from response-level rewards (PPO, GRPO, ReMax, RLOO, TRePO; " +
    "arXiv 2506.02553).",
  ];
  const summary: Json = {};
  if (algorithm !== undefined) summary.algorithm = algorithm;
  if (task !== undefined) summary.task = task;
  if (step !== undefined) summary.step = step;
  if (Object.keys(summary).length > 0) lines.push("", "## Summary", "", table(summary));
  if (isObject(input.config) && Object.keys(input.config).length > 0) {
    lines.push("", "## Model configuration (`config.json`)", "", table(input.config));
  }
  if (training !== undefined && Object.keys(training).length > 0) {
    lines.push("", "## Training configuration", "", table(training));
  }
  if (metrics !== undefined && Object.keys(metrics).length > 0) {
    lines.push("", "## Final metrics", "", table(metrics));
  }
  if (input.files !== undefined && input.files.length > 0) {
    lines.push("", "## Files", "", ...input.files.map((f) => `- \`${f}\``));
  }
  lines.push(
    "",
    "## Usage",
    "",
    "```ts",
    'import { loadCheckpoint, pullCheckpoint } from "jsr:@trepo/rl";',
    "",
    `const dir = await pullCheckpoint("${input.repo}");`,
    "const { policy } = await loadCheckpoint(dir);",
    "```",
    "",
  );
  return lines.join("\n");
}
