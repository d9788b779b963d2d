/**
 * The memory plan of a run: the bytes of every tensor set a training step holds, counted from the
 * model's and the step's shapes before anything is allocated, against the backend's limit, with
 * the ways out when it does not fit. Pure arithmetic over plain numbers (float32 everywhere).
 *
 * What is counted (P parameters, P_t trainable, L layers, d hidden, h heads, q = h·d_h query
 * width, w = g·d_h key/value width, m MLP width, V vocabulary; a forward over n rows of S tokens,
 * N = n·S):
 *
 * - **weights** `4P`; a separate frozen **reference** copy `4P_ref` (0 when it shares the base,
 *   as under LoRA); a trained **value model** `4P_v`.
 * - **gradients** `4(P_t + P_v)`, and as much again for the **accumulation** buffer when a
 *   minibatch is cut into several micro-batches.
 * - **Adam** two moments per trained weight: `8(P_t + P_v)`.
 * - **KV cache** while sampling R rows up to S tokens: `2·L·R·S·w·4`, counted twice because each
 *   decoding step concatenates a new cache before the old one is released.
 * - **activations** of one forward over n rows. tfjs keeps every intermediate tensor of a
 *   `tf.tidy` or gradient scope alive until the scope ends, so the count is every op's output,
 *   read off `rope_decoder.ts` and `grouped_query_attention.ts`, per layer:
 *   two RMSNorms `2·3d`, two residual adds and the o/down projections `4d`; q, its RoPE
 *   (two half slices, negation, concat, two products, sum) and the head transposes before and
 *   after attention `9.5q`; k and v, the RoPE of k and their transposes `9.5w`; gate, up,
 *   sigmoid and two products `5m`, and under LoRA `2o` for each projection of width `o` (its
 *   adapter's product and the sum) — all per token — plus per row the scores, their scaling,
 *   the causal bias added and the softmax `4·h·S²` (one more `h·S²` for the tiled bias when
 *   h > g). Outside the layers: the embedding rows and the final norm `4d` per token and the
 *   causal bias `S²` per row. Under a gradient tape the update holds
 *   {@linkcode BACKWARD_FACTOR} times that set (the forward's tensors plus the gradients the
 *   backward pass makes of them).
 *
 * Checked against `tf.profile` peaks on wasm (`.scratch` script in the report of issue 19): the
 * forward count over-estimates a no-tape forward 1.3–2.2× (contiguous slices and reshapes share
 * memory), and the update count is 0.74–1.04 of the measured update transient (tiny GPT and Llama shapes).
 * - **head** (`lm_head.ts`): the chunked fused log-softmax keeps `[N]` values and allocates, per
 *   chunk of `R = min(N, ⌊2²³ / V⌋)` rows, {@linkcode HEAD_CHUNK_TENSORS} tensors `[R, V]`, plus
 *   (the `[V, d]` table is never transposed: on plain wasm its products are flag-free matmuls
 *   with `W` on the left), plus, when the head is trained, three `[V, d]` tensors of its backward pass (the chunk's weight gradient, the
 *   target rows' scatter and their running sum).
 *
 * Phases (the peak is the largest): **sampling** (persistent + the larger of the prefill forward
 * over the distinct prompts and the KV cache), **log-probs** (persistent + a forward and the head over the rows
 * scored without a tape: old or reference log-probs), **update** (persistent + gradients +
 * accumulation + a micro-batch's forward with its backward + the head). Persistent = weights,
 * reference, value model and Adam (which exists from the first update on).
 *
 * @module
 */

/** Bytes of a float32. */
export const FLOAT32_BYTES = 4;

/**
 * How many times the forward's intermediate set an update holds at its peak (measured on wasm:
 * the update transient was 2.8–5× the no-tape forward's; 2× the count is 0.74–1.04 of it).
 */
export const BACKWARD_FACTOR = 2;

/**
 * The most elements of one `[R, V]` chunk of the fused head (`R·V ≤ 2²³`, 32 MiB): the default of
 * `HEAD_CHUNK_FLOATS` in `lib/models/lm_head.ts` (a test holds the two equal).
 */
export const HEAD_CHUNK_ELEMENTS = 2 ** 23;

/**
 * `[R, V]` tensors one chunk of the fused head holds at once: the logits, their shift, the
 * exponentials and their product with the logits (forward); the logits, log-probs, probabilities
 * and their scaled copy (backward).
 */
export const HEAD_CHUNK_TENSORS = 4;

/** The shape of the models a run holds. */
export interface ModelShape {
  /** Every weight the policy's forward pass reads (a LoRA policy: its base and its adapters). */
  parameters: number;
  /** The weights Adam trains (a LoRA policy: the adapters). */
  trainableParameters: number;
  /** Transformer blocks `L`. */
  layers: number;
  /** Residual width `d`. */
  hidden: number;
  /** Query heads `h`. */
  heads: number;
  /** Query width `q = h·d_h` (usually `d`). */
  queryWidth: number;
  /** Key (and value) width per layer `w = g·d_h` (`d` without grouped-query attention). */
  kvWidth: number;
  /** MLP width `m`. */
  intermediate: number;
  /** Vocabulary `V`. */
  vocab: number;
  /** Parameters of a separate frozen reference copy (0: none, or it shares the base weights). */
  referenceParameters?: number;
  /** Parameters of a trained value model (0: none). */
  valueParameters?: number;
  /** Whether the head's `[V, d]` table is trained (default: all parameters are trainable). */
  headTrained?: boolean;
  /**
   * `[in, out]` of every projection a LoRA adapter could target, when the model is pretrained
   * and not yet LoRA (the plan then offers `--lora-rank 8` as a way out).
   */
  adaptable?: readonly (readonly [number, number])[];
  /**
   * Whether a forward pass without a tape frees each block's intermediates before the next block
   * runs (the RoPE decoder families, `lib/models/rope_decoder.ts`); default false: it holds every
   * block's until the pass ends.
   */
  blockByBlock?: boolean;
}

/** The shape of one training step. */
export interface StepShape {
  /** Rows of the step's batch `B = promptsPerStep × groupSize`. */
  rows: number;
  /** Rows of one minibatch (`⌈B / minibatches⌉`). */
  minibatchRows: number;
  /** Rows of one forward + backward pass; 0 chooses the largest divisor of `minibatchRows` that fits. */
  microBatchSize: number;
  /** Tokens of the longest prompt. */
  promptTokens: number;
  /** The response budget (most response tokens). */
  responseTokens: number;
  /** Rows decoded at once (default `rows`; TRePO's continuations: `rows × positions × K`). */
  sampledRows?: number;
  /**
   * Rows of the prefill forward before decoding (default `rows`): the distinct prompts
   * (`promptsPerStep`, a group shares its prompt), or TRePO's distinct prefixes.
   */
  prefillRows?: number;
  /** Tokens of each prefill row (default `promptTokens`; TRePO's prefixes: up to the whole sequence). */
  prefillTokens?: number;
  /**
   * Rows scored without a tape (reference or old log-probs; default `rows`, 0 = none); they run in
   * passes of the micro-batch.
   */
  logProbRows?: number;
}

/** Where the limit comes from and what it is. */
export interface MemoryLimit {
  /** Bytes the run may hold at its peak. */
  bytes: number;
  /** The most bytes of one tensor (webgpu: the device's buffer limits; else `Infinity`). */
  tensorBytes: number;
  /** What holds the memory, for messages ("the wasm heap", "the webgpu device", …). */
  what: string;
  /**
   * Whether Adam's moments are held outside this limit (wasm: the fused Adam keeps them in
   * WebAssembly memories of its own, `fused_adam.ts`); default false.
   */
  optimizerOutside?: boolean;
}

/** The bytes of a run, item by item. */
export interface MemoryItems {
  weights: number;
  reference: number;
  valueModel: number;
  gradients: number;
  accumulation: number;
  optimizer: number;
  kvCache: number;
  activations: number;
  head: number;
}

/** The plan: itemised bytes, each phase's total, the peak and whether it fits. */
export interface MemoryPlan {
  /** Bytes by item (KV cache as held at its peak; activations of one micro-batch). */
  items: MemoryItems;
  /** Total bytes of each phase. */
  phases: { sampling: number; logProbs: number; update: number };
  /** Bytes held by every phase (weights, reference, value model, and Adam unless outside the limit). */
  persistentBytes: number;
  /** The largest phase total. */
  peakBytes: number;
  /** The phase of the peak. */
  peakPhase: "sampling" | "logProbs" | "update";
  /** The largest single tensor. */
  largestTensorBytes: number;
  /** The micro-batch the plan is for (chosen when the step's was 0). */
  microBatchSize: number;
  /** The limit it was planned against. */
  limit: MemoryLimit;
  /** Whether the peak and the largest tensor are within the limit. */
  fits: boolean;
  /** Ways out when it does not fit, as command-line flags (empty when it fits). */
  waysOut: string[];
}

const positive = (n: number | undefined) => Math.max(0, n ?? 0);

/**
 * Bytes of every intermediate tensor of one forward pass over `rows` rows of `length` tokens,
 * without the head (the formula of the module doc).
 *
 * `4·(L·(N·(10d + 9.5q + 9.5w + 5m) + n·c·h·S²) + N·4d + n·S²)` with `c` = 4, or 5 when
 * `h > g` (the tiled bias of grouped-query attention).
 *
 * @param model The model shape.
 * @param rows Rows `n`.
 * @param length Tokens per row `S`.
 * @returns Bytes.
 *
 * @example One layer, d = q = w = 8, m = 32, 2 heads, 1 row of 4 tokens
 * ```ts
 * import { forwardBytes } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const model = {
 *   parameters: 0, trainableParameters: 0, layers: 1, hidden: 8, heads: 2, queryWidth: 8,
 *   kvWidth: 8, intermediate: 32, vocab: 16,
 * };
 * // per token 80 + 76 + 76 + 160 = 392, scores 4·2·16 = 128, outside 4·(4·8) + 16 = 144
 * assertEquals(forwardBytes(model, 1, 4), 4 * (4 * 392 + 128 + 144));
 * ```
 */
export function forwardBytes(model: ModelShape, rows: number, length: number): number {
  const { layers, hidden: d, heads: h, queryWidth: q, kvWidth: w, intermediate: m } = model;
  const tokens = rows * length;
  // Under LoRA every adapted projection of width o adds its adapter's product and the sum, 2o
  // (counted as if every projection were adapted: q, k, v, o, gate, up, down).
  const lora = model.trainableParameters < model.parameters ? 2 * (q + 2 * w + 2 * d + 2 * m) : 0;
  const perToken = 10 * d + 9.5 * q + 9.5 * w + 5 * m + lora;
  const scoreCopies = w < q ? 5 : 4;
  const perLayer = tokens * perToken + rows * scoreCopies * h * length * length;
  return FLOAT32_BYTES * (layers * perLayer + tokens * 4 * d + rows * length * length);
}

/**
 * Bytes of a forward pass without a tape (sampling's prefill, reference and old log-probs): every
 * block's intermediates ({@linkcode forwardBytes}), or, where the model frees each block's before
 * the next (`blockByBlock`), one block's plus every block's keys and values (the prefill keeps them
 * as the cache).
 *
 * @param model The model shape.
 * @param rows Rows of the pass.
 * @param length Tokens of each row.
 * @returns Bytes.
 *
 * @example
 * ```ts
 * import { forwardBytes, inferenceBytes, kvCacheBytes } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const model = {
 *   parameters: 0, trainableParameters: 0, layers: 3, hidden: 8, heads: 2, queryWidth: 8,
 *   kvWidth: 8, intermediate: 32, vocab: 16,
 * };
 * assertEquals(inferenceBytes(model, 2, 4), forwardBytes(model, 2, 4));
 * assertEquals(
 *   inferenceBytes({ ...model, blockByBlock: true }, 2, 4),
 *   forwardBytes({ ...model, layers: 1 }, 2, 4) + kvCacheBytes(model, 2, 4),
 * );
 * ```
 */
export function inferenceBytes(model: ModelShape, rows: number, length: number): number {
  if (model.blockByBlock !== true) return forwardBytes(model, rows, length);
  return forwardBytes({ ...model, layers: 1 }, rows, length) + kvCacheBytes(model, rows, length);
}

/**
 * Bytes of the chunked fused head over `tokens` rows: {@linkcode HEAD_CHUNK_TENSORS} tensors of
 * `[R, V]`, `R = min(tokens, ⌊2²³ / V⌋)` (at least 1), and three `[V, d]` when the head is
 * trained (`training` and `model.headTrained`). The table itself is never transposed or copied.
 *
 * @param model The model shape (`vocab`, `hidden`, `headTrained`, the parameter counts).
 * @param tokens Rows of hidden states the head scores.
 * @param training Whether a backward pass follows (default false).
 * @returns Bytes.
 *
 * @example SmolLM2's vocabulary: chunks of 170 rows
 * ```ts
 * import { headBytes } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const shape = { vocab: 49152, hidden: 576, headTrained: false };
 * assertEquals(headBytes(shape, 1024), 4 * (4 * 170 * 49152));
 * assertEquals(headBytes({ ...shape, headTrained: true }, 1024, true), 4 * (4 * 170 * 49152 + 3 * 49152 * 576));
 * ```
 */
export function headBytes(
  model:
    & Pick<ModelShape, "vocab" | "hidden" | "headTrained">
    & Partial<Pick<ModelShape, "parameters" | "trainableParameters">>,
  tokens: number,
  training = false,
): number {
  if (tokens <= 0) return 0;
  const rows = Math.max(1, Math.min(tokens, Math.floor(HEAD_CHUNK_ELEMENTS / model.vocab)));
  const trained = model.headTrained ??
    ((model.trainableParameters ?? 0) >= (model.parameters ?? Infinity));
  const tables = training && trained ? 3 : 0;
  return FLOAT32_BYTES *
    (HEAD_CHUNK_TENSORS * rows * model.vocab + tables * model.vocab * model.hidden);
}

/**
 * Bytes of the key/value cache of `rows` rows of `length` positions: `2·L·rows·length·w·4`.
 *
 * @param model The model shape (`layers`, `kvWidth`).
 * @param rows Rows decoded at once.
 * @param length Positions per row.
 * @returns Bytes.
 *
 * @example SmolLM2-135M (30 layers, 3 KV heads of 64): 16 rows of 512 positions
 * ```ts
 * import { kvCacheBytes } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(kvCacheBytes({ layers: 30, kvWidth: 192 }, 16, 512), 377_487_360);
 * ```
 */
export function kvCacheBytes(
  model: Pick<ModelShape, "layers" | "kvWidth">,
  rows: number,
  length: number,
): number {
  return 2 * model.layers * rows * length * model.kvWidth * FLOAT32_BYTES;
}

/**
 * Trainable parameters of LoRA adapters of rank `r` on projections of sizes `[in, out]`:
 * `Σ r·(in + out)`.
 *
 * @param projections `[in, out]` of each adapted projection.
 * @param rank The rank `r`.
 * @returns The parameter count.
 *
 * @example
 * ```ts
 * import { loraParameters } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(loraParameters([[576, 576], [576, 192]], 8), 8 * (1152 + 768));
 * ```
 */
export function loraParameters(
  projections: readonly (readonly [number, number])[],
  rank: number,
): number {
  return projections.reduce((sum, [fanIn, fanOut]) => sum + rank * (fanIn + fanOut), 0);
}

function planFor(model: ModelShape, step: StepShape, micro: number, limit: MemoryLimit) {
  const trained = model.trainableParameters + positive(model.valueParameters);
  const length = step.promptTokens + step.responseTokens;
  const sampledRows = step.sampledRows ?? step.rows;
  // Reference and old log-probs run in passes of the micro-batch (`constantLogProbs`).
  const logProbRows = Math.min(step.logProbRows ?? step.rows, micro);
  const items: MemoryItems = {
    weights: FLOAT32_BYTES * model.parameters,
    reference: FLOAT32_BYTES * positive(model.referenceParameters),
    valueModel: FLOAT32_BYTES * positive(model.valueParameters),
    gradients: FLOAT32_BYTES * trained,
    accumulation: micro < step.minibatchRows ? FLOAT32_BYTES * trained : 0,
    optimizer: 2 * FLOAT32_BYTES * trained,
    kvCache: 2 * kvCacheBytes(model, sampledRows, length),
    activations: BACKWARD_FACTOR * forwardBytes(model, micro, length),
    head: headBytes(model, micro * length, true),
  };
  const persistentBytes = items.weights + items.reference + items.valueModel +
    (limit.optimizerOutside ? 0 : items.optimizer);
  const phases = {
    sampling: persistentBytes +
      Math.max(
        items.kvCache,
        inferenceBytes(
          model,
          step.prefillRows ?? step.rows,
          step.prefillTokens ?? step.promptTokens,
        ),
      ),
    logProbs: logProbRows === 0 ? persistentBytes : persistentBytes +
      inferenceBytes(model, logProbRows, length) + headBytes(model, logProbRows * length),
    update: persistentBytes + items.gradients + items.accumulation + items.activations +
      items.head,
  };
  const peakPhase = (["update", "logProbs", "sampling"] as const).reduce((a, b) =>
    phases[b] > phases[a] ? b : a
  );
  const widest = Math.max(micro, sampledRows, logProbRows);
  const largestTensorBytes = FLOAT32_BYTES * Math.max(
    model.vocab * model.hidden,
    Math.min(micro * length, Math.max(1, Math.floor(HEAD_CHUNK_ELEMENTS / model.vocab))) *
      model.vocab,
    widest * model.heads * length * length,
    widest * length * model.intermediate,
  );
  const peakBytes = phases[peakPhase];
  const fits = peakBytes <= limit.bytes && largestTensorBytes <= limit.tensorBytes;
  return { items, phases, persistentBytes, peakBytes, peakPhase, largestTensorBytes, fits };
}

/** The divisors of `n`, largest first. */
function divisorsDescending(n: number): number[] {
  const out: number[] = [];
  for (let k = n; k >= 1; k--) if (n % k === 0) out.push(k);
  return out;
}

/**
 * Plan the memory of a run: itemise the bytes, find the peak phase, compare with the limit, and
 * when the step's micro-batch is 0 choose the largest divisor of the minibatch rows that fits
 * (1 when none does). When the plan does not fit, `waysOut` lists what would: LoRA of rank 8 (a
 * pretrained model not yet LoRA), the largest micro-batch that fits, the longest response budget
 * that fits with the same micro-batch.
 *
 * @param model The model shape.
 * @param step The step shape.
 * @param limit The backend's limit (see `memoryLimit` in `memory_limit.ts`).
 * @returns The plan.
 * @throws {RangeError} For sizes that are not integers ≥ 0 (rows, layers and widths ≥ 1).
 *
 * @example SmolLM2-135M full fine-tuning: 16 rows of 64 tokens at once do not fit 4 GiB, fewer do
 * ```ts
 * import { planMemory } from "./memory_plan.ts";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const smol = {
 *   parameters: 134_515_008, trainableParameters: 134_515_008, layers: 30, hidden: 576,
 *   heads: 9, queryWidth: 576, kvWidth: 192, intermediate: 1536, vocab: 49152,
 *   referenceParameters: 134_515_008,
 * };
 * const step = {
 *   rows: 16, minibatchRows: 16, microBatchSize: 16, promptTokens: 32, responseTokens: 32,
 *   prefillRows: 2, logProbRows: 0,
 * };
 * const plan = planMemory(smol, step, { bytes: 2 ** 32, tensorBytes: Infinity, what: "the wasm heap" });
 * assertEquals(plan.items.weights, 538_060_032);
 * assertEquals(plan.items.optimizer, 2 * 538_060_032);
 * assert(!plan.fits);
 * assert(plan.waysOut.some((w) => w.startsWith("--micro-batch-size")));
 * ```
 */
export function planMemory(model: ModelShape, step: StepShape, limit: MemoryLimit): MemoryPlan {
  const context = "Cannot plan the memory";
  for (
    const key of [
      "parameters",
      "trainableParameters",
      "layers",
      "hidden",
      "heads",
      "queryWidth",
      "kvWidth",
      "intermediate",
      "vocab",
    ] as const
  ) {
    const value = model?.[key];
    const min = key === "parameters" || key === "trainableParameters" ? 0 : 1;
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(`${context}: model.${key} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  for (
    const key of [
      "rows",
      "minibatchRows",
      "microBatchSize",
      "promptTokens",
      "responseTokens",
    ] as const
  ) {
    const value = step?.[key];
    const min = key === "rows" || key === "minibatchRows" ? 1 : 0;
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(`${context}: step.${key} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  const given = step.microBatchSize;
  const candidates = given > 0 ? [given] : divisorsDescending(step.minibatchRows);
  let micro = candidates[candidates.length - 1];
  let planned = planFor(model, step, micro, limit);
  for (const k of candidates) {
    const p = planFor(model, step, k, limit);
    if (p.fits || k === candidates[candidates.length - 1]) {
      micro = k;
      planned = p;
      break;
    }
  }
  const waysOut = planned.fits ? [] : findWaysOut(model, step, micro, limit);
  return { ...planned, microBatchSize: micro, limit, waysOut };
}

function findWaysOut(
  model: ModelShape,
  step: StepShape,
  micro: number,
  limit: MemoryLimit,
): string[] {
  const ways: string[] = [];
  if (model.adaptable !== undefined && model.adaptable.length > 0) {
    const adapters = loraParameters(model.adaptable, 8);
    const lora: ModelShape = {
      ...model,
      parameters: model.parameters + adapters,
      trainableParameters: adapters,
      referenceParameters: 0,
      valueParameters: positive(model.valueParameters) > 0 ? adapters + model.hidden + 1 : 0,
    };
    if (divisorsDescending(step.minibatchRows).some((k) => planFor(lora, step, k, limit).fits)) {
      ways.push("--lora-rank 8");
    }
  }
  const smaller = divisorsDescending(step.minibatchRows).find((k) =>
    k < micro && planFor(model, step, k, limit).fits
  );
  if (smaller !== undefined) ways.push(`--micro-batch-size ${smaller}`);
  // The longest response budget that fits with the same micro-batch (bisection; monotone).
  const fitsWith = (tokens: number) =>
    planFor(model, { ...step, responseTokens: tokens }, micro, limit).fits;
  if (step.responseTokens > 1 && fitsWith(1)) {
    let [lo, hi] = [1, step.responseTokens - 1];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fitsWith(mid)) lo = mid;
      else hi = mid - 1;
    }
    ways.push(`--max-tokens ${lo}`);
  }
  return ways;
}

/**
 * Bytes as GiB with one decimal below 10 (`"5.1 GiB"`), MiB below 1 GiB.
 *
 * @param bytes A byte count.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./memory_plan.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatBytes(2 ** 32), "4 GiB");
 * assertEquals(formatBytes(1.5 * 2 ** 20), "1.5 MiB");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units: [number, string][] = [[2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  for (const [size, unit] of units) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${unit}`;
    }
  }
  return `${bytes} B`;
}

/**
 * The items of a plan's peak phase as text: `"weights 513 MiB, Adam 1 GiB, gradients 513 MiB,
 * activations of micro-batch 4 2.9 GiB"` (items of 0 bytes left out).
 *
 * @param plan A plan.
 * @returns The text.
 */
export function describePeak(plan: MemoryPlan): string {
  const { items } = plan;
  const parts: [string, number][] = [
    ["weights", items.weights],
    ["reference", items.reference],
    ["value model", items.valueModel],
  ];
  if (!plan.limit.optimizerOutside) parts.push(["Adam", items.optimizer]);
  if (plan.peakPhase === "update") {
    parts.push(["gradients", items.gradients], ["accumulation", items.accumulation]);
    parts.push([`activations of micro-batch ${plan.microBatchSize}`, items.activations]);
    parts.push(["head", items.head]);
  } else if (plan.peakPhase === "sampling") {
    parts.push(["KV cache or prefill", plan.phases.sampling - plan.persistentBytes]);
  } else {
    parts.push(["log-prob forward of a micro-batch", plan.phases.logProbs - plan.persistentBytes]);
  }
  return parts.filter(([, b]) => b > 0).map(([name, b]) => `${name} ${formatBytes(b)}`).join(
    ", ",
  );
}

/** The error of a run that does not fit in memory; `plan` holds the numbers. */
export class MemoryPlanError extends RangeError {
  /** The plan that did not fit. */
  readonly plan: MemoryPlan;
  /**
   * @param message The message.
   * @param plan The plan.
   */
  constructor(message: string, plan: MemoryPlan) {
    super(message);
    this.name = "MemoryPlanError";
    this.plan = plan;
  }
}

/**
 * Throw a {@linkcode MemoryPlanError} unless the plan fits: "Cannot start the run: it needs
 * 5.1 GiB at its peak (update: weights 513 MiB, …) but the wasm heap holds 4 GiB: use --lora-rank 8,
 * --micro-batch-size 1, or --max-tokens 64".
 *
 * @param plan A plan.
 * @param context The failed operation (default "Cannot start the run").
 * @returns The plan, when it fits.
 * @throws {MemoryPlanError} When it does not.
 *
 * @example
 * ```ts
 * import { assertFits, planMemory } from "./memory_plan.ts";
 * import { assertThrows } from "@std/assert";
 *
 * const model = {
 *   parameters: 2 ** 28, trainableParameters: 2 ** 28, layers: 1, hidden: 8, heads: 1,
 *   queryWidth: 8, kvWidth: 8, intermediate: 8, vocab: 8,
 * };
 * const step = { rows: 1, minibatchRows: 1, microBatchSize: 1, promptTokens: 1, responseTokens: 1 };
 * const plan = planMemory(model, step, { bytes: 2 ** 32, tensorBytes: Infinity, what: "the wasm heap" });
 * assertThrows(() => assertFits(plan), RangeError, "it needs 4 GiB at its peak");
 * ```
 */
export function assertFits(plan: MemoryPlan, context = "Cannot start the run"): MemoryPlan {
  if (plan.fits) return plan;
  const { limit } = plan;
  const ways = plan.waysOut.length === 0
    ? "no smaller micro-batch or response budget fits; use a smaller model"
    : `use ${
      plan.waysOut.length === 1
        ? plan.waysOut[0]
        : `${plan.waysOut.slice(0, -1).join(", ")}, or ${plan.waysOut.at(-1)}`
    }`;
  const phase = { update: "update", logProbs: "log-probs", sampling: "sampling" }[plan.peakPhase];
  let message: string;
  if (plan.peakBytes > limit.bytes) {
    message = `${context}: it needs ${formatBytes(plan.peakBytes)} at its peak (${phase}: ${
      describePeak(plan)
    }) but ${limit.what} holds ${formatBytes(limit.bytes)}: ${ways}`;
  } else {
    message = `${context}: its largest tensor needs ${
      formatBytes(plan.largestTensorBytes)
    } but ${limit.what} allows ${formatBytes(limit.tensorBytes)} per buffer: ${ways}`;
  }
  throw new MemoryPlanError(message, plan);
}
