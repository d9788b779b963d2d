/**
 * Live training progress: an in-place Jupyter display (progress bar + metric curves) inside
 * Deno's kernel, plain-text progress elsewhere.
 *
 * @module
 */

import { displayBundle, isJupyter, type MediaBundle } from "./display.ts";
import type { Figure, Trace } from "./figure.ts";
import { escapeHtml, figureHtml, takePlotlyScriptOnce } from "./plotly_html.ts";
import { formatNumber } from "./table.ts";

/** Metrics of one training step: name → value (names like `reward/mean`, `kl`, `eval/accuracy`). */
export type StepMetrics = Readonly<Record<string, number>>;

/**
 * What a training loop calls after each step. `step` counts completed steps (1 … totalSteps).
 */
export interface StepCallbacks {
  /** Called after every step with that step's metrics. */
  onStep(metrics: StepMetrics, step: number, totalSteps: number): void;
}

/** Where progress goes: `"auto"` (Jupyter inside `deno jupyter`, else text), or one of them. */
export type ProgressMode = "auto" | "jupyter" | "text" | "silent";

/** Options of {@linkcode liveTraining}. */
export interface LiveTrainingOptions {
  /** Total number of steps (a positive integer). */
  totalSteps: number;
  /** Metrics to plot and print, in order; default: every metric seen, in order of appearance. */
  metrics?: readonly string[];
  /** Title of the display. */
  title?: string;
  /** Output mode (default `"auto"`). */
  mode?: ProgressMode;
  /** Least milliseconds between two Jupyter updates or two TTY redraws (default 500). */
  minIntervalMs?: number;
  /** Non-TTY text: print a line every this many steps (default ⌈totalSteps / 20⌉). */
  textEvery?: number;
  /** Text output (default: standard output). */
  write?: (text: string) => void;
  /** Whether the text output is a terminal (default: `Deno.stdout.isTerminal()`). */
  tty?: boolean;
  /** Clock in milliseconds (default `performance.now`); for tests. */
  now?: () => number;
  /**
   * Where Jupyter-mode bundles go (default: `Deno.jupyter.display` with `raw: true`); for tests
   * and other frontends. Receives the bundle and `{ display_id, update? }`.
   */
  display?: (
    bundle: MediaBundle,
    options: { display_id?: string; update?: boolean },
  ) => Promise<unknown>;
}

/** A live progress display; also a {@linkcode StepCallbacks} a training loop can call. */
export interface LiveTraining extends StepCallbacks {
  /** Record step `step` (completed steps, 0 … totalSteps) with its metrics and refresh. */
  update(step: number, metrics?: StepMetrics): void;
  /** Final refresh; resolves when the last Jupyter update was sent. Idempotent. */
  finish(): Promise<void>;
  /** The mode in use (`"auto"` resolved). */
  readonly mode: Exclude<ProgressMode, "auto">;
  /** Recorded curves: metric → `[step, value]` pairs. */
  readonly history: ReadonlyMap<string, readonly (readonly [number, number])[]>;
  /** The curves as a plotly figure (one subplot per metric). */
  figure(): Figure;
}

/**
 * Show training progress while a loop runs: in Deno's Jupyter kernel, one output that updates
 * in place (progress bar, step rate, ETA, latest metric values, and plotly curves of the chosen
 * metrics); elsewhere a {@linkcode TextProgress} (a redrawn bar on a terminal, a plain line every
 * few steps otherwise).
 *
 * Jupyter updates use `Deno.jupyter.display(bundle, { raw: true, display_id })` and then
 * `update: true`, at most every `minIntervalMs`; the final update (at `finish`) also carries the
 * `application/vnd.plotly.v1+json` figure, so a saved notebook shows the curves without
 * running scripts. plotly.js goes into its own small output the first time (once per kernel).
 *
 * Preconditions: `totalSteps` a positive integer; each `step` an integer in [0, totalSteps];
 * metric values numbers (NaN is shown, not plotted).
 *
 * @param options Total steps, metrics to show, mode, throttling.
 * @returns The live display; feed it `update(step, metrics)` or pass it as `{ onStep }`.
 * @throws {RangeError} When `totalSteps` is not a positive integer.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { liveTraining } from "./live_training.ts";
 *
 * const lines: string[] = [];
 * const live = liveTraining({
 *   totalSteps: 4, metrics: ["reward/mean"], mode: "text", tty: false, textEvery: 2,
 *   write: (text) => lines.push(text), now: () => 0,
 * });
 * for (let step = 1; step <= 4; step++) live.update(step, { "reward/mean": step / 4 });
 * await live.finish();
 * assertEquals(lines.length, 3); // steps 1 (the first), 2 and 4
 * assertEquals(lines[2], "step 4/4 (100%) | reward/mean 1\n");
 * assertEquals(live.history.get("reward/mean")?.length, 4);
 * ```
 */
export function liveTraining(options: LiveTrainingOptions): LiveTraining {
  const context = "Cannot show training progress";
  const totalSteps = checkTotal(context, options.totalSteps);
  const requestedMode = options.mode ?? "auto";
  if (!["auto", "jupyter", "text", "silent"].includes(requestedMode)) {
    throw new RangeError(
      `${context}: mode must be one of "auto", "jupyter", "text", "silent", got "${requestedMode}"`,
    );
  }
  const mode: Exclude<ProgressMode, "auto"> = requestedMode === "auto"
    ? (isJupyter() ? "jupyter" : "text")
    : requestedMode;
  const now = options.now ?? (() => performance.now());
  const minInterval = options.minIntervalMs ?? 500;
  const title = options.title ?? "Training";
  const state = new ProgressState(totalSteps, options.metrics, now);
  const text = mode === "text"
    ? new TextProgress({
      totalSteps,
      metrics: options.metrics,
      every: options.textEvery,
      write: options.write,
      tty: options.tty,
      minIntervalMs: Math.min(minInterval, 200),
      now,
    })
    : undefined;
  const displayId = `trepo-live-${crypto.randomUUID()}`;
  let shown = false;
  let lastSent = -Infinity;
  let finished = false;
  let chain: Promise<unknown> = Promise.resolve();
  const show = options.display === undefined ? displayBundle : safeDisplay(options.display);

  function send(final: boolean): void {
    const bundle = jupyterBundle(state, title, final);
    if (!shown) {
      const plotly = takePlotlyScriptOnce();
      if (plotly !== "") {
        chain = chain.then(() => show({ "text/html": plotly, "text/plain": "" }, {}));
      }
      chain = chain.then(() => show(bundle, { display_id: displayId }));
      shown = true;
    } else {
      chain = chain.then(() => show(bundle, { display_id: displayId, update: true }));
    }
    lastSent = now();
  }

  function update(step: number, metrics: StepMetrics = {}): void {
    if (finished) throw new Error(`${context}: finish() was already called`);
    state.record(context, step, metrics);
    if (mode === "text") text!.update(step, metrics);
    else if (mode === "jupyter" && (now() - lastSent >= minInterval || step === totalSteps)) {
      send(false);
    }
  }

  return {
    mode,
    history: state.history,
    update,
    onStep(metrics: StepMetrics, step: number, total: number): void {
      if (total !== totalSteps) {
        throw new RangeError(
          `${context}: onStep got totalSteps ${total}, but the display was made for ${totalSteps}`,
        );
      }
      update(step, metrics);
    },
    async finish(): Promise<void> {
      if (finished) return await chain.then(() => {});
      finished = true;
      state.finishedAt = now();
      if (mode === "text") text!.finish();
      else if (mode === "jupyter") send(true);
      await chain;
    },
    figure: () => curvesFigure(state, title),
  };
}

/** Options of {@linkcode TextProgress}. */
export interface TextProgressOptions {
  /** Total number of steps (a positive integer). */
  totalSteps: number;
  /** Metrics to print, in order; default every metric seen. */
  metrics?: readonly string[];
  /** Non-TTY: print every this many steps (default ⌈totalSteps / 20⌉); first and last always. */
  every?: number;
  /** Output (default: standard output). */
  write?: (text: string) => void;
  /** Whether the output is a terminal (default: `Deno.stdout.isTerminal()`). */
  tty?: boolean;
  /** Least milliseconds between two TTY redraws (default 100). */
  minIntervalMs?: number;
  /** Clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

/**
 * Plain-text training progress: on a terminal a bar redrawn in place
 * (`[#####.....] 50% step 5/10 | 2.0 step/s | ETA 2s | reward/mean 0.5`); otherwise one plain
 * line every `every` steps (`step 5/10 (50%) | 2.0 step/s | ETA 2s | reward/mean 0.5`),
 * which suits CI logs and files.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TextProgress } from "./live_training.ts";
 *
 * const out: string[] = [];
 * const progress = new TextProgress({ totalSteps: 2, tty: true, write: (t) => out.push(t), now: () => 0 });
 * progress.update(2, { kl: 0.01 });
 * progress.finish();
 * assertEquals(out.join(""), "\r[##############################] 100% step 2/2 | kl 0.01\n");
 * ```
 */
export class TextProgress {
  /** Whether the bar is redrawn in place (terminal) or printed as lines. */
  readonly tty: boolean;
  #state: ProgressState;
  #every: number;
  #write: (text: string) => void;
  #minInterval: number;
  #now: () => number;
  #lastDraw = -Infinity;
  #lastPrinted = -1;
  #lastStep = 0;
  #lastWidth = 0;
  #drawnStep = -1;
  #finished = false;

  /**
   * Create a text progress display; nothing is printed until the first `update`.
   *
   * @param options Total steps, metrics, output, TTY override.
   * @throws {RangeError} When `totalSteps` or `every` is not a positive integer.
   */
  constructor(options: TextProgressOptions) {
    const context = "Cannot show training progress";
    const total = checkTotal(context, options.totalSteps);
    this.#now = options.now ?? (() => performance.now());
    this.#state = new ProgressState(total, options.metrics, this.#now);
    this.#every = options.every ?? Math.max(1, Math.ceil(total / 20));
    if (!Number.isInteger(this.#every) || this.#every < 1) {
      throw new RangeError(`${context}: every must be a positive integer, got ${options.every}`);
    }
    this.#write = options.write ?? writeStdout;
    this.tty = options.tty ?? safeIsTerminal();
    this.#minInterval = options.minIntervalMs ?? 100;
  }

  /**
   * Record a step and print if due.
   * @param step Completed steps, an integer in [0, totalSteps].
   * @param metrics Metric values of this step.
   */
  update(step: number, metrics: StepMetrics = {}): void {
    this.#state.record("Cannot show training progress", step, metrics);
    this.#lastStep = step;
    const total = this.#state.totalSteps;
    if (this.tty) {
      if (this.#now() - this.#lastDraw >= this.#minInterval || step === total) this.#draw();
    } else if (step % this.#every === 0 || step === total || this.#lastPrinted < 0) {
      this.#line();
    }
  }

  /** Print the final state (a newline after the bar on a terminal). Idempotent. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.tty) {
      if (this.#drawnStep !== this.#lastStep || this.#lastWidth === 0) this.#draw();
      this.#write("\n");
    } else if (this.#lastPrinted !== this.#lastStep) {
      this.#line();
    }
  }

  #draw(): void {
    const s = this.#state;
    const width = 30;
    const filled = Math.round((width * s.step) / s.totalSteps);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
    const text = `${bar} ${percent(s)}% ${s.describe()}`;
    const pad = this.#lastWidth > text.length ? " ".repeat(this.#lastWidth - text.length) : "";
    this.#write(`\r${text}${pad}`);
    this.#lastWidth = text.length;
    this.#lastDraw = this.#now();
    this.#drawnStep = this.#state.step;
  }

  #line(): void {
    const s = this.#state;
    const [head, ...rest] = s.describe().split(" | ");
    this.#write(`${[`${head} (${percent(s)}%)`, ...rest].join(" | ")}\n`);
    this.#lastPrinted = s.step;
  }
}

/** Shared bookkeeping: latest step, per-metric history, timing. */
class ProgressState {
  readonly history = new Map<string, [number, number][]>();
  readonly latest = new Map<string, number>();
  step = 0;
  firstStep: number | undefined;
  firstTime: number | undefined;
  lastTime = 0;
  finishedAt: number | undefined;
  readonly startedAt: number;

  constructor(
    readonly totalSteps: number,
    readonly metrics: readonly string[] | undefined,
    readonly now: () => number,
  ) {
    if (metrics !== undefined) {
      if (!Array.isArray(metrics) || metrics.some((m) => typeof m !== "string")) {
        throw new TypeError("Cannot show training progress: metrics must be an array of strings");
      }
      for (const m of metrics) this.history.set(m, []);
    }
    this.startedAt = now();
  }

  record(context: string, step: number, metrics: StepMetrics): void {
    if (!Number.isInteger(step) || step < 0 || step > this.totalSteps) {
      throw new RangeError(
        `${context}: step must be an integer in [0, ${this.totalSteps}], got ${step}`,
      );
    }
    if (metrics === null || typeof metrics !== "object") {
      throw new TypeError(`${context}: metrics must be an object of numbers`);
    }
    for (const [name, value] of Object.entries(metrics)) {
      if (typeof value !== "number") {
        throw new TypeError(`${context}: metric ${name} must be a number, got ${typeof value}`);
      }
      if (this.metrics !== undefined && !this.history.has(name)) continue;
      let series = this.history.get(name);
      if (series === undefined) this.history.set(name, series = []);
      this.latest.set(name, value);
      if (Number.isFinite(value)) series.push([step, value]);
    }
    const t = this.now();
    if (this.firstTime === undefined) {
      this.firstTime = t;
      this.firstStep = step;
    }
    this.lastTime = t;
    this.step = step;
  }

  /** Steps per second over the recorded span, or undefined before two timed updates. */
  rate(): number | undefined {
    if (this.firstTime === undefined || this.firstStep === undefined) return undefined;
    const steps = this.step - this.firstStep;
    const seconds = (this.lastTime - this.firstTime) / 1000;
    if (steps <= 0 || seconds <= 0) {
      const since = (this.lastTime - this.startedAt) / 1000;
      return this.step > 0 && since > 0 ? this.step / since : undefined;
    }
    return steps / seconds;
  }

  describe(): string {
    const parts = [`step ${this.step}/${this.totalSteps}`];
    const rate = this.rate();
    if (rate !== undefined) {
      parts.push(`${formatNumber(rate, 3)} step/s`);
      if (this.step < this.totalSteps) {
        parts.push(`ETA ${duration((this.totalSteps - this.step) / rate)}`);
      }
    }
    for (const name of this.metrics ?? this.latest.keys()) {
      const value = this.latest.get(name);
      if (value !== undefined) parts.push(`${name} ${formatNumber(value)}`);
    }
    return parts.join(" | ");
  }
}

function jupyterBundle(state: ProgressState, title: string, final: boolean): MediaBundle {
  const pct = percent(state);
  const elapsed = duration(((state.finishedAt ?? state.now()) - state.startedAt) / 1000);
  const status = final
    ? `finished: ${state.step}/${state.totalSteps} steps in ${elapsed}`
    : state.describe();
  const figure = curvesFigure(state, final ? `${title} (${status})` : title);
  const hasCurves = figure.data.length > 0;
  const html = `<div class="trepo-live" style="font-family:system-ui,sans-serif">
<div style="font-weight:600;margin-bottom:4px">${escapeHtml(title)}</div>
<div style="display:flex;align-items:center;gap:8px">
<div style="flex:0 0 320px;height:14px;background:#e5e7eb;border-radius:7px;overflow:hidden">
<div style="width:${pct}%;height:100%;background:${final ? "#16a34a" : "#2563eb"}"></div></div>
<span style="font-variant-numeric:tabular-nums">${pct}%</span></div>
<div style="font-family:monospace;font-size:12px;margin-top:4px">${escapeHtml(status)}</div>
${hasCurves ? figureHtml(figure, { height: figureHeight(figure) }) : ""}
</div>`;
  const bundle: MediaBundle = {
    "text/html": html,
    "text/plain": `${title}: ${pct}% ${status}`,
  };
  if (final && hasCurves) {
    bundle["application/vnd.plotly.v1+json"] = figure as unknown as Record<string, unknown>;
  }
  return bundle;
}

function curvesFigure(state: ProgressState, title: string): Figure {
  const names = [...state.history.keys()];
  const data: Trace[] = names.map((name, i) => {
    const series = state.history.get(name) ?? [];
    return {
      type: "scatter",
      mode: series.length > 50 ? "lines" : "lines+markers",
      name,
      x: series.map(([s]) => s),
      y: series.map(([, v]) => v),
      xaxis: i === 0 ? "x" : `x${i + 1}`,
      yaxis: i === 0 ? "y" : `y${i + 1}`,
    };
  });
  const layout: Record<string, unknown> = {
    title: { text: title },
    height: 120 + 180 * Math.max(1, names.length),
    margin: { l: 60, r: 20, t: 50, b: 40 },
    showlegend: false,
    grid: { rows: Math.max(1, names.length), columns: 1, pattern: "independent" },
  };
  names.forEach((name, i) => {
    layout[i === 0 ? "yaxis" : `yaxis${i + 1}`] = { title: { text: name } };
    layout[i === 0 ? "xaxis" : `xaxis${i + 1}`] = {
      range: [0, state.totalSteps],
      title: i === names.length - 1 ? { text: "step" } : undefined,
    };
  });
  return { data, layout };
}

function safeDisplay(
  display: NonNullable<LiveTrainingOptions["display"]>,
): (bundle: MediaBundle, options: { display_id?: string; update?: boolean }) => Promise<unknown> {
  return async (bundle, options) => {
    try {
      await display(bundle, options);
    } catch (error) {
      console.warn("Jupyter display failed:", error);
    }
  };
}

function figureHeight(figure: Figure): number {
  return typeof figure.layout?.height === "number" ? figure.layout.height : 420;
}

function percent(state: ProgressState): number {
  return Math.floor((100 * state.step) / state.totalSteps);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function checkTotal(context: string, total: unknown): number {
  if (typeof total !== "number" || !Number.isInteger(total) || total < 1) {
    throw new RangeError(`${context}: totalSteps must be a positive integer, got ${String(total)}`);
  }
  return total;
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}
