/**
 * Low-rank adaptation (LoRA) of a pretrained policy: every targeted projection
 * `y = x·Wᵀ + b` becomes `y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ` with trainable `A` `[r, in]`,
 * `B` `[out, r]` and the base weights frozen and shared. Names, initialisation, module matching
 * and merging follow Hugging Face PEFT (`peft/tuners/lora`), so adapters move between the two
 * (`peft_adapter.ts`).
 *
 * @see Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", arXiv 2106.09685.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Architecture, ProjectionLayout } from "../policy/architecture.ts";
import { weight } from "../policy/layers.ts";
import { makePolicy, type Policy } from "../policy/transformer.ts";
import { Random } from "../random.ts";
import { loraAName, loraBName } from "./projection.ts";

/** How {@linkcode loraPolicy} adapts a policy. */
export interface LoraOptions {
  /** The rank `r` of the adapters (an integer ≥ 1). */
  rank: number;
  /** The numerator of the scaling `α/r` (> 0; PEFT's `lora_alpha`). */
  alpha: number;
  /**
   * Module names, matched as PEFT matches a list: a module is adapted when its path equals a
   * name or ends with `.<name>` (`q_proj`, `mlp.down_proj`; `c_attn`, `c_proj`, `c_fc` for GPT-2).
   */
  targetModules: readonly string[];
  /** Dropout on the adapter's input; only 0 (the default) is supported. */
  dropout?: number;
  /** Seed of the initialisation of `A` (drawn with trepo's `Random`). */
  seed: number;
  /**
   * The base model as PEFT and vLLM should find it (a Hub id or a folder), saved as the
   * adapter's `base_model_name_or_path`; default none (saved as null).
   */
  baseModel?: string;
}

/** The adapter settings a LoRA policy carries in its architecture. */
export interface LoraAdapter {
  /** The adapted policy (shared, not owned: the LoRA policy never disposes it). */
  readonly base: Policy;
  /** The rank `r`. */
  readonly rank: number;
  /** `α` (the scaling is `α/r`). */
  readonly alpha: number;
  /** The target names as given (saved as PEFT's `target_modules`). */
  readonly targetModules: readonly string[];
  /** The adapted module paths, in the base's order, with their weight layouts. */
  readonly modules: ReadonlyMap<string, ProjectionLayout>;
  /** The base model's Hub id or folder, when known (PEFT's `base_model_name_or_path`). */
  readonly baseModel?: string;
}

/** The architecture of a LoRA policy: its base's forward pass plus the adapter settings. */
export interface LoraArchitecture extends Architecture {
  /** The adapter settings. */
  readonly lora: LoraAdapter;
}

/**
 * The adapter settings of a LoRA policy, or `undefined` for any other policy.
 *
 * @param policy A policy.
 * @returns Its {@linkcode LoraAdapter}, if it is a LoRA policy (or a clone or frozen copy of one).
 *
 * @example
 * ```ts
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { loraAdapterOf } from "./lora.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 8, seed: 0 });
 * assertEquals(loraAdapterOf(policy), undefined);
 * policy.dispose();
 * ```
 */
export function loraAdapterOf(policy: Pick<Policy, "architecture">): LoraAdapter | undefined {
  const architecture = policy?.architecture as Partial<LoraArchitecture> | undefined;
  return architecture?.lora;
}

/**
 * The module paths a list of target names selects (PEFT's matching for a list: the path equals
 * the name or ends with `.<name>`), in the model's order.
 *
 * @throws {RangeError} When a name matches no projection, listing the model's module names.
 */
export function matchTargetModules(
  projections: ReadonlyMap<string, ProjectionLayout>,
  targetModules: readonly string[],
  context: string,
): Map<string, ProjectionLayout> {
  const matches = (path: string, name: string) => path === name || path.endsWith(`.${name}`);
  for (const name of targetModules) {
    if (![...projections.keys()].some((path) => matches(path, name))) {
      throw new RangeError(
        `${context}: target module ${
          JSON.stringify(name)
        } matches no module of the model; its linear modules: ${
          projectionNames(projections.keys()).join(", ")
        }`,
      );
    }
  }
  const selected = new Map<string, ProjectionLayout>();
  for (const [path, layout] of projections) {
    if (targetModules.some((name) => matches(path, name))) selected.set(path, layout);
  }
  return selected;
}

/**
 * The projections of a policy that adapters can target.
 *
 * @throws {TypeError} For the built-in GPT (no architecture) or a policy that is already LoRA.
 */
export function adaptableProjections(
  base: Policy,
  context: string,
): ReadonlyMap<string, ProjectionLayout> {
  const projections = base?.architecture?.projections;
  if (projections === undefined) {
    throw new TypeError(
      `${context}: the base policy has no pretrained architecture with named projections (LoRA needs a model from loadPretrained, not the built-in GPT)`,
    );
  }
  if (loraAdapterOf(base) !== undefined) {
    throw new TypeError(
      `${context}: the base policy is already a LoRA policy (merge it first with mergeAdapter)`,
    );
  }
  return projections;
}

/**
 * The distinct module names of projection paths, in model order (`model.layers.0.self_attn.q_proj`
 * → `q_proj`): PEFT's "all-linear" targets, the head aside.
 *
 * @param paths Hugging Face module paths (the keys of `Architecture.projections`).
 * @returns The names, each once.
 *
 * @example
 * ```ts
 * import { projectionNames } from "./lora.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(
 *   projectionNames(["h.0.attn.c_attn", "h.0.mlp.c_fc", "h.1.attn.c_attn"]),
 *   ["c_attn", "c_fc"],
 * );
 * ```
 */
export function projectionNames(paths: Iterable<string>): string[] {
  return [...new Set([...paths].map((m) => m.slice(m.lastIndexOf(".") + 1)))];
}

/** `[in, out]` of a projection's weight. */
export function projectionSize(
  base: Policy,
  module: string,
  layout: ProjectionLayout,
): [number, number] {
  const [rows, columns] = weight(base.weights, `${module}.weight`).shape;
  return layout === "linear" ? [columns, rows] : [rows, columns];
}

/**
 * The forward pass of a LoRA policy: the base's, run on the base's weights joined with the
 * adapters, `B` scaled by `α/r` (what `projection.ts` expects). The head has no adapter.
 */
function adaptedArchitecture(adapter: LoraAdapter): LoraArchitecture {
  const base = adapter.base.architecture!;
  const scaling = adapter.alpha / adapter.rank;
  const join = (adapters: ReadonlyMap<string, tf.Tensor>) => {
    const weights = new Map<string, tf.Tensor>(adapter.base.weights);
    for (const module of adapter.modules.keys()) {
      weights.set(loraAName(module), weight(adapters, loraAName(module)));
      weights.set(loraBName(module), tf.mul(weight(adapters, loraBName(module)), scaling));
    }
    return weights;
  };
  return {
    modelType: base.modelType,
    hfConfig: base.hfConfig,
    ...(base.projections !== undefined ? { projections: base.projections } : {}),
    lora: adapter,
    trunk: (adapters, tokens, options) => base.trunk(join(adapters), tokens, options),
    decodeStep: (adapters, tokens, positions, cache, keyBias) =>
      base.decodeStep(join(adapters), tokens, positions, cache, keyBias),
    head: (_adapters, hidden) => base.head(adapter.base.weights, hidden),
    headWeight: () => base.headWeight(adapter.base.weights),
  };
}

/**
 * A LoRA policy from its settings and adapter variables (owned by the result). Used by
 * {@linkcode loraPolicy} and `loadAdapter`.
 *
 * @param adapter The settings (the base must have been checked with {@linkcode adaptableProjections}).
 * @param adapters `<module>.lora_A.weight` `[r, in]` and `<module>.lora_B.weight` `[out, r]`
 * for every module of `adapter.modules`.
 * @returns The policy; its `weights` are the adapters only.
 */
export function adaptedPolicy(adapter: LoraAdapter, adapters: Map<string, tf.Variable>): Policy {
  return makePolicy({ ...adapter.base.config }, adapters, true, adaptedArchitecture(adapter));
}

function checkOptions(options: LoraOptions, context: string): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${context}: options must be an object, got ${options}`);
  }
  const { rank, alpha, targetModules, dropout = 0, seed } = options;
  if (!Number.isInteger(rank) || rank < 1) {
    throw new RangeError(`${context}: rank must be an integer of at least 1, got ${rank}`);
  }
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) {
    throw new RangeError(`${context}: alpha must be a finite number above 0, got ${alpha}`);
  }
  if (dropout !== 0) {
    throw new RangeError(`${context}: dropout ${dropout} is not supported; supported: 0`);
  }
  if (
    !Array.isArray(targetModules) || targetModules.length === 0 ||
    targetModules.some((name) => typeof name !== "string" || name === "")
  ) {
    throw new TypeError(
      `${context}: targetModules must be a non-empty array of module names, got ${
        JSON.stringify(targetModules)
      }`,
    );
  }
  if (typeof seed !== "number" || !Number.isFinite(seed)) {
    throw new TypeError(`${context}: seed must be a finite number, got ${seed}`);
  }
}

/**
 * Adapt a pretrained policy with LoRA: the result's `weights` are only the adapters
 * `<module>.lora_A.weight` `[r, in]` and `<module>.lora_B.weight` `[out, r]` (trainable), and
 * its forward pass is the base's with `y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ` on each targeted
 * projection. The base's weights are shared, not copied; `dispose()` frees only the adapters
 * (dispose the base separately, after every policy built on it). `clonePolicy`, `freezePolicy`
 * and `pretrainedValueModel` copy the adapters and keep the same base.
 *
 * Initialisation as PEFT's default (`init_lora_weights=True`): `A` by
 * `kaiming_uniform_(a=√5)`, i.e. gain `√(2/(1+a²)) = √(1/3)` and bound
 * `√3·gain/√in = 1/√in`, so `A ~ U(−1/√in, 1/√in)`, drawn with `Random(seed)` module by module
 * in the model's order; `B = 0`, so the adapted policy starts out equal to its base.
 *
 * @see Hu et al., arXiv 2106.09685. Used to fine-tune pretrained policies with any algorithm
 * (the optimizer trains `policy.weights`, here the adapters).
 *
 * @param base A policy from `loadPretrained` / `loadPretrainedFolder` (not itself LoRA).
 * @param options Rank, α, target modules, seed.
 * @returns A trainable LoRA policy.
 * @throws {RangeError} For `rank < 1`, a rank above `min(in, out)` of a target (before anything
 * is allocated; see {@linkcode checkLoraRank}), `alpha ≤ 0`, `dropout ≠ 0`, or a target that
 * matches no module (listing the model's module names).
 * @throws {TypeError} For a base without a pretrained architecture (the built-in GPT) or one
 * that is already LoRA, or malformed options.
 *
 * @example The llama fixture: q/v adapters start out equal to the base
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { loraPolicy } from "./lora.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/llama");
 * const lora = loraPolicy(base, { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 1 });
 * assertEquals(lora.weights.get("model.layers.0.self_attn.q_proj.lora_A.weight")!.shape, [4, 48]);
 * const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * const [a, b] = [lora.logits(tokens), base.logits(tokens)];
 * assertEquals(await a.data(), await b.data());
 * tf.dispose([tokens, a, b]);
 * lora.dispose();
 * base.dispose();
 * ```
 */
export function loraPolicy(base: Policy, options: LoraOptions): Policy {
  const context = "Cannot create the LoRA policy";
  checkOptions(options, context);
  const projections = adaptableProjections(base, context);
  const modules = matchTargetModules(projections, options.targetModules, context);
  const { rank } = options;
  checkLoraRank(
    context,
    rank,
    [...modules].map(([module, layout]) => [module, projectionSize(base, module, layout)]),
  );
  const random = new Random(options.seed);
  const adapters = new Map<string, tf.Variable>();
  for (const [module, layout] of modules) {
    const [fanIn, fanOut] = projectionSize(base, module, layout);
    const bound = 1 / Math.sqrt(fanIn);
    const values = new Float32Array(rank * fanIn);
    for (let i = 0; i < values.length; i++) values[i] = (2 * random.float() - 1) * bound;
    const a = tf.tensor2d(values, [rank, fanIn]);
    const b = tf.zeros([fanOut, rank]);
    adapters.set(loraAName(module), tf.variable(a, true));
    adapters.set(loraBName(module), tf.variable(b, true));
    tf.dispose([a, b]);
  }
  return adaptedPolicy({
    base,
    rank,
    alpha: options.alpha,
    targetModules: [...options.targetModules],
    modules,
    ...(options.baseModel === undefined ? {} : { baseModel: options.baseModel }),
  }, adapters);
}

/**
 * Refuse a rank above `min(in, out)` of any targeted projection (the adapter `B·A` could not have
 * that rank, and its weights would outgrow the projection's), before anything is allocated.
 *
 * @param context The failed operation, for the message.
 * @param rank The rank `r`.
 * @param sizes Each targeted module with its `[in, out]`.
 * @throws {RangeError} When `r > min(in, out)` for some module; the message names the first such
 *   module and the largest rank every target allows.
 *
 * @example
 * ```ts
 * import { checkLoraRank } from "./lora.ts";
 * import { assertThrows } from "@std/assert";
 *
 * const sizes: [string, [number, number]][] = [["q_proj", [576, 576]], ["k_proj", [576, 192]]];
 * checkLoraRank("Cannot create the LoRA policy", 192, sizes);
 * assertThrows(
 *   () => checkLoraRank("Cannot create the LoRA policy", 100000, sizes),
 *   RangeError,
 *   "rank 100000 exceeds min(in, out) = 576 of q_proj [576 → 576]; the largest rank every target allows is 192",
 * );
 * ```
 */
export function checkLoraRank(
  context: string,
  rank: number,
  sizes: readonly (readonly [string, readonly [number, number]])[],
): void {
  const allowed = Math.min(...sizes.map(([, [fanIn, fanOut]]) => Math.min(fanIn, fanOut)));
  const first = sizes.find(([, [fanIn, fanOut]]) => rank > Math.min(fanIn, fanOut));
  if (first === undefined) return;
  const [module, [fanIn, fanOut]] = first;
  throw new RangeError(
    `${context}: rank ${rank} exceeds min(in, out) = ${
      Math.min(fanIn, fanOut)
    } of ${module} [${fanIn} → ${fanOut}]; the largest rank every target allows is ${allowed}`,
  );
}

/**
 * The reference model of a LoRA policy: its base with the adapter switched off (TRL's
 * `disable_adapter()`), sharing the base's weight variables — no tensor is copied or allocated.
 * Its `dispose()` does nothing (the base is disposed by whoever owns it, after the run).
 *
 * @param policy A LoRA policy.
 * @returns A frozen view of the base (`trainable: false`).
 * @throws {TypeError} When the policy is not a LoRA policy.
 *
 * @example No new tensor
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { adapterOffReference, loraPolicy } from "./lora.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/llama");
 * const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["q_proj"], seed: 0 });
 * const before = tf.memory().numBytes;
 * const reference = adapterOffReference(lora);
 * assertEquals(tf.memory().numBytes, before);
 * assertEquals(reference.weights, base.weights);
 * reference.dispose();
 * lora.dispose();
 * base.dispose();
 * ```
 */
export function adapterOffReference(policy: Policy): Policy {
  const adapter = loraAdapterOf(policy);
  if (adapter === undefined) {
    throw new TypeError(
      "Cannot switch the adapter off: the policy is not a LoRA policy (freeze a copy instead)",
    );
  }
  const base = adapter.base;
  return {
    config: base.config,
    weights: base.weights,
    parameterCount: base.parameterCount,
    trainable: false,
    ...(base.architecture !== undefined ? { architecture: base.architecture } : {}),
    logits: (tokens) => base.logits(tokens),
    dispose: () => {},
  };
}

/**
 * Merge a LoRA policy's adapters into a plain pretrained policy (PEFT's `merge_and_unload`):
 * each adapted weight becomes `W + (α/r)·B·A` (`nn.Linear`, `[out, in]`) or
 * `W + (α/r)·(B·A)ᵀ` (GPT-2's `Conv1D`, `[in, out]`; PEFT's `fan_in_fan_out`); every other
 * weight is copied. The result owns fresh trainable variables with the base's architecture, so
 * `savePretrained` writes it as an ordinary checkpoint.
 *
 * @param policy A LoRA policy (from {@linkcode loraPolicy}, `loadAdapter`, or a copy of one).
 * @returns A new pretrained policy; the LoRA policy and its base are left as they are.
 * @throws {TypeError} When the policy is not a LoRA policy.
 *
 * @example Merging fresh adapters (`B = 0`) gives the base's weights
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { loraPolicy, mergeAdapter } from "./lora.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/gpt2");
 * const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["c_attn"], seed: 0 });
 * const merged = mergeAdapter(lora);
 * const name = "transformer.h.0.attn.c_attn.weight";
 * assertEquals(await merged.weights.get(name)!.data(), await base.weights.get(name)!.data());
 * merged.dispose();
 * lora.dispose();
 * base.dispose();
 * ```
 */
export function mergeAdapter(policy: Policy): Policy {
  const adapter = loraAdapterOf(policy);
  if (adapter === undefined) {
    throw new TypeError("Cannot merge the LoRA adapter: the policy is not a LoRA policy");
  }
  const scaling = adapter.alpha / adapter.rank;
  const merged = new Map<string, tf.Variable>();
  for (const [name, w] of adapter.base.weights) {
    const module = name.endsWith(".weight") ? name.slice(0, -".weight".length) : "";
    const layout = adapter.modules.get(module);
    if (layout === undefined) {
      merged.set(name, tf.variable(w, true));
      continue;
    }
    const sum = tf.tidy(() => {
      const a = weight(policy.weights, loraAName(module)) as tf.Tensor2D;
      const b = weight(policy.weights, loraBName(module)) as tf.Tensor2D;
      const delta = tf.mul(tf.matMul(b, a), scaling) as tf.Tensor2D;
      return tf.add(w, layout === "linear" ? delta : tf.transpose(delta));
    });
    merged.set(name, tf.variable(sum, true));
    sum.dispose();
  }
  return makePolicy({ ...adapter.base.config }, merged, true, adapter.base.architecture);
}
