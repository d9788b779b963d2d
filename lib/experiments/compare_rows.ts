/**
 * The rows of an algorithm comparison: a row is an algorithm, settings over its defaults, and a
 * label. Every row of `deno task compare` goes through {@linkcode compareRowByLabel}: a plain
 * algorithm name is the algorithm as shipped (no overrides, its own name as the label); a named
 * row ({@linkcode NAMED_COMPARE_ROWS}) is one line of that table.
 *
 * One override value is resolved against the task: `positions: "every"` (TRePO) becomes
 * `m = maxTokens − 1`, every interior position of the longest response, so that no value is
 * interpolated and the update is the unbiased estimate of Eq. 28.
 *
 * @see https://arxiv.org/abs/2506.02553 — Eq. 28 and §5 (TRePO's Monte-Carlo prefix values).
 *
 * @module
 */
import { resolveConfig } from "../algorithms/step.ts";
import { algorithmByName } from "../algorithms/train.ts";
import { checkInteger, describe } from "../validate.ts";

/** The override value of `positions` that evaluates every interior position (no interpolation). */
export const EVERY_POSITION = "every";

/** One row of a comparison. */
export interface CompareRowSpec {
  /** The row's name in tables, figures and result files (`"grpo"`, `"trepo-every"`). */
  readonly label: string;
  /** The algorithm's name (as `ALGORITHM_NAMES` spells it). */
  readonly algorithm: string;
  /**
   * Settings over the algorithm's defaults (before the comparison's shared settings are laid
   * under them); `positions` may be {@linkcode EVERY_POSITION}.
   */
  readonly overrides: Readonly<Record<string, unknown>>;
  /** One line for `summary.json` and the notes. */
  readonly description: string;
}

/**
 * The rows that are more than an algorithm's name, by label. A new row is one line here.
 */
export const NAMED_COMPARE_ROWS: Readonly<Record<string, Omit<CompareRowSpec, "label">>> = Object
  .freeze({
    "trepo-every": {
      algorithm: "trepo",
      overrides: { positions: EVERY_POSITION },
      description:
        "TRePO with every position evaluated (m = maxTokens − 1): no interpolation, the unbiased estimate of Eq. 28",
    },
  });

/**
 * The row a label names: a row of {@linkcode NAMED_COMPARE_ROWS}, or an algorithm as shipped
 * (`"dr-grpo"` is accepted for `"dr_grpo"`, and labelled `"dr_grpo"`).
 *
 * @param label A row label or an algorithm's name.
 * @returns The row.
 * @throws {RangeError} When the label is neither a named row nor an algorithm.
 *
 * @example
 * ```ts
 * import { compareRowByLabel } from "./compare_rows.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(compareRowByLabel("trepo-every").algorithm, "trepo");
 * assertEquals(compareRowByLabel("trepo-every").overrides, { positions: "every" });
 * assertEquals(compareRowByLabel("dr-grpo").label, "dr_grpo");
 * assertEquals(compareRowByLabel("grpo").overrides, {});
 * ```
 */
export function compareRowByLabel(label: string): CompareRowSpec {
  if (typeof label === "string" && Object.hasOwn(NAMED_COMPARE_ROWS, label)) {
    return Object.freeze({ label, ...NAMED_COMPARE_ROWS[label] });
  }
  let name: string;
  try {
    name = algorithmByName(label).name;
  } catch (error) {
    throw new RangeError(
      `Cannot find the comparison row: ${describe(label)} is neither a named row (${
        Object.keys(NAMED_COMPARE_ROWS).join(", ")
      }) nor an algorithm; ${(error as Error).message}`,
    );
  }
  return Object.freeze({
    label: name,
    algorithm: name,
    overrides: Object.freeze({}),
    description: `${name} as shipped`,
  });
}

/**
 * The settings a row's runs are given (over the algorithm's defaults, as `train`'s `config`):
 * the comparison's shared settings, then the row's overrides, with `positions: "every"` resolved
 * to `maxTokens − 1` (`maxTokens` from those settings when positive, else the task's response
 * budget), then checked against the algorithm.
 *
 * @param row The row.
 * @param shared Settings every row of the comparison gets (`promptsPerStep`, `groupSize`, …).
 * @param maxResponseTokens The task's `maxResponseTokens` (≥ 1).
 * @returns Plain settings with every value concrete.
 * @throws {RangeError} For a bad `maxResponseTokens`, or settings the algorithm rejects.
 *
 * @example
 * ```ts
 * import { compareRowByLabel, compareRowConfig } from "./compare_rows.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const every = compareRowConfig(compareRowByLabel("trepo-every"), { groupSize: 4 }, 17);
 * assertEquals(every, { groupSize: 4, positions: 16 });
 * assertEquals(compareRowConfig(compareRowByLabel("trepo"), { groupSize: 4 }, 17), { groupSize: 4 });
 * ```
 */
export function compareRowConfig(
  row: CompareRowSpec,
  shared: Readonly<Record<string, unknown>>,
  maxResponseTokens: number,
): Record<string, unknown> {
  const context = `Cannot configure the comparison row ${row.label}`;
  checkInteger(context, "maxResponseTokens", maxResponseTokens, 1);
  const config: Record<string, unknown> = { ...shared, ...row.overrides };
  if (config.positions === EVERY_POSITION) {
    const maxTokens = typeof config.maxTokens === "number" && config.maxTokens > 0
      ? config.maxTokens
      : maxResponseTokens;
    config.positions = Math.max(0, maxTokens - 1);
  }
  resolveConfig(algorithmByName(row.algorithm), config); // throws on settings it rejects
  return config;
}

/**
 * Whether a TRePO-style config evaluates every interior position of every response the task
 * allows (`positions ≥ maxTokens − 1`), so that no prefix value is interpolated.
 *
 * @param config A resolved config with `positions` and `maxTokens` (0: the task's budget).
 * @param maxResponseTokens The task's `maxResponseTokens`.
 * @returns `true` when nothing is interpolated; `false` for configs without `positions`.
 *
 * @example
 * ```ts
 * import { evaluatesEveryPosition } from "./compare_rows.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(evaluatesEveryPosition({ positions: 16, maxTokens: 0 }, 17), true);
 * assertEquals(evaluatesEveryPosition({ positions: 4, maxTokens: 0 }, 17), false);
 * assertEquals(evaluatesEveryPosition({ positions: 4, maxTokens: 0 }, 4), true); // addition
 * ```
 */
export function evaluatesEveryPosition(
  config: { readonly positions?: unknown; readonly maxTokens?: unknown },
  maxResponseTokens: number,
): boolean {
  if (typeof config.positions !== "number") return false;
  const maxTokens = typeof config.maxTokens === "number" && config.maxTokens > 0
    ? config.maxTokens
    : maxResponseTokens;
  return config.positions >= maxTokens - 1;
}
