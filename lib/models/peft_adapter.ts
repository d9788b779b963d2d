/**
 * LoRA adapters in Hugging Face PEFT's folder layout: `adapter_config.json` and
 * `adapter_model.safetensors` with keys `base_model.model.<module>.lora_A.weight` `[r, in]` and
 * `…lora_B.weight` `[out, r]` (what `PeftModel.save_pretrained` writes and
 * `PeftModel.from_pretrained` reads).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeDirectoryAtomically } from "../io/atomic_directory.ts";
import {
  encodeSafetensors,
  FLOAT_DTYPES,
  readSafetensorsFloat32,
  readSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "../io/safetensors.ts";
import type { Policy } from "../policy/transformer.ts";
import {
  adaptableProjections,
  adaptedPolicy,
  loraAdapterOf,
  projectionNames,
  projectionSize,
} from "./lora.ts";
import { loraAName, loraBName } from "./projection.ts";

/** The prefix PEFT puts before a causal LM's module paths. */
const KEY_PREFIX = "base_model.model.";
const CONFIG = "adapter_config.json";
const WEIGHTS = "adapter_model.safetensors";

/** Options of {@linkcode saveAdapter}. */
export interface SaveAdapterOptions {
  /**
   * Written as `base_model_name_or_path` (a Hub repo or folder PEFT loads the base from);
   * default the adapter's own `baseModel` (`loraPolicy`'s option, or the loaded adapter's), else
   * null.
   */
  baseModel?: string;
}

/** Options of {@linkcode loadAdapter}. */
export interface LoadAdapterOptions {
  /**
   * The base model's Hub id or folder, kept for saving (`base_model_name_or_path`); default the
   * one in `adapter_config.json`.
   */
  baseModel?: string;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Save a LoRA policy's adapters in PEFT's layout, atomically (the checkpoint commit protocol):
 * `adapter_config.json` (`peft_type` LORA, `task_type` CAUSAL_LM, `r`, `lora_alpha`,
 * `lora_dropout` 0, `target_modules`, `fan_in_fan_out` true for GPT-2's `Conv1D`, `bias` none,
 * `base_model_name_or_path`) and `adapter_model.safetensors` (F32). PEFT's
 * `PeftModel.from_pretrained(base, dir)` loads it, and {@linkcode loadAdapter} reads it back
 * bit-exactly.
 *
 * @param policy A LoRA policy (`loraPolicy`, `loadAdapter`, or a copy of one).
 * @param dir The target folder; it must not exist yet or be empty.
 * @param options `baseModel`, written as `base_model_name_or_path` (default the adapter's).
 * @throws {TypeError} When the policy is not a LoRA policy.
 * @throws {Error} On I/O errors, or when `dir` exists and is not empty.
 *
 * @example Save fresh adapters of the GPT-2 fixture and load them back
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { loraPolicy } from "./lora.ts";
 * import { loadAdapter, saveAdapter } from "./peft_adapter.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/gpt2");
 * const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["c_attn"], seed: 0 });
 * const dir = (await Deno.makeTempDir()) + "/adapter";
 * await saveAdapter(lora, dir, { baseModel: "gpt2" });
 * const again = await loadAdapter(base, dir);
 * assertEquals([...again.weights.keys()], [...lora.weights.keys()]);
 * again.dispose();
 * lora.dispose();
 * base.dispose();
 * ```
 */
export async function saveAdapter(
  policy: Policy,
  dir: string,
  options: SaveAdapterOptions = {},
): Promise<void> {
  const context = `Cannot save the LoRA adapter ${JSON.stringify(dir)}`;
  await writeDirectoryAtomically(
    dir,
    await adapterFiles(policy, options, context),
    context,
    CONFIG,
  );
}

/**
 * The files of {@linkcode saveAdapter}, by name, without writing them (a run checkpoint adds its
 * optimizer and trainer state to them and commits them all at once).
 *
 * @param policy A LoRA policy.
 * @param options `baseModel`, written as `base_model_name_or_path`.
 * @param context The failed operation, for error messages.
 * @returns File name → bytes.
 * @throws {TypeError} When the policy is not a LoRA policy.
 */
export async function adapterFiles(
  policy: Policy,
  options: SaveAdapterOptions,
  context: string,
): Promise<Map<string, Uint8Array>> {
  const adapter = loraAdapterOf(policy);
  if (adapter === undefined) {
    throw new TypeError(`${context}: the policy is not a LoRA policy`);
  }
  const tensors = new Map<string, { dtype: "F32"; shape: number[]; data: Float32Array }>();
  for (const module of adapter.modules.keys()) {
    for (const name of [loraAName(module), loraBName(module)]) {
      const w = policy.weights.get(name);
      if (w === undefined) throw new TypeError(`${context}: adapter weight "${name}" is missing`);
      tensors.set(KEY_PREFIX + name, {
        dtype: "F32",
        shape: [...w.shape],
        data: (await w.data()) as Float32Array,
      });
    }
  }
  const config = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: options.baseModel ?? adapter.baseModel ?? null,
    bias: "none",
    fan_in_fan_out: [...adapter.modules.values()].some((layout) => layout === "conv1d"),
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: "LORA",
    r: adapter.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...adapter.targetModules],
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: false,
  };
  return new Map<string, Uint8Array>([
    [CONFIG, new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n")],
    [WEIGHTS, encodeSafetensors(tensors, { format: "pt" })],
  ]);
}

async function readFile(dir: string, name: string, context: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(join(dir, name));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`${context}: ${name} is missing`);
    throw error;
  }
}

/** The LoRA settings of an `adapter_config.json`, checked against what trepo supports. */
function readConfig(
  raw: Record<string, unknown>,
  context: string,
): { rank: number; alpha: number; targetModules: string[] | undefined } {
  const unsupported = (key: string, supported: string) =>
    new RangeError(
      `${context}: ${CONFIG} has ${key} ${
        JSON.stringify(raw[key])
      }, which is not supported; supported: ${supported}`,
    );
  if (raw.peft_type !== "LORA") throw unsupported("peft_type", "LORA");
  for (const key of ["use_rslora", "use_dora", "lora_bias"]) {
    if (raw[key] !== undefined && raw[key] !== null && raw[key] !== false) {
      throw unsupported(key, "false");
    }
  }
  if (raw.bias !== undefined && raw.bias !== "none") throw unsupported("bias", "none");
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    const v = raw[key];
    if (v !== undefined && v !== null && (typeof v !== "object" || Object.keys(v).length > 0)) {
      throw unsupported(key, "{}");
    }
  }
  const modulesToSave = raw.modules_to_save;
  if (modulesToSave !== undefined && modulesToSave !== null) {
    if (!Array.isArray(modulesToSave) || modulesToSave.length > 0) {
      throw unsupported("modules_to_save", "null");
    }
  }
  const rank = raw.r;
  if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 1) {
    throw new RangeError(`${context}: ${CONFIG} r must be an integer of at least 1, got ${rank}`);
  }
  const alpha = raw.lora_alpha;
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) {
    throw new RangeError(`${context}: ${CONFIG} lora_alpha must be above 0, got ${alpha}`);
  }
  const targets = raw.target_modules;
  const targetModules = Array.isArray(targets) && targets.every((t) => typeof t === "string")
    ? targets as string[]
    : undefined;
  return { rank, alpha, targetModules };
}

/**
 * Load a PEFT LoRA adapter folder onto a pretrained policy. The adapted modules are those with
 * tensors in `adapter_model.safetensors`; every tensor is checked (name, module, shape) before
 * any variable is created, so a failure leaves nothing allocated. F32, F16 and BF16 become
 * float32. `lora_dropout` is a training-time option and is ignored (the policy runs without
 * dropout).
 *
 * @param base A policy from `loadPretrained` / `loadPretrainedFolder` of the adapter's base model
 * (shared, not copied).
 * @param dir The folder with `adapter_config.json` and `adapter_model.safetensors`.
 * @param options `baseModel`, kept for saving (default the file's `base_model_name_or_path`).
 * @returns A trainable LoRA policy (see `loraPolicy`).
 * @throws {Error} Naming the file (and tensor): a missing file, invalid JSON, a tensor that is
 * not a LoRA weight, has the wrong shape or lacks its pair.
 * @throws {RangeError} For an unsupported `peft_type` or option (`use_rslora`, `use_dora`,
 * `bias` other than none, `rank_pattern`, `alpha_pattern`, `modules_to_save`), naming what is
 * supported, or a module the base lacks, listing the base's module names.
 * @throws {TypeError} When the base has no pretrained architecture or is already LoRA.
 *
 * @example The llama fixture's PEFT adapter
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { loadAdapter } from "./peft_adapter.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/llama");
 * const lora = await loadAdapter(base, "tests/fixtures/hf/llama_lora");
 * assertEquals(lora.weights.get("model.layers.0.self_attn.q_proj.lora_B.weight")!.shape, [48, 4]);
 * lora.dispose();
 * base.dispose();
 * ```
 */
export async function loadAdapter(
  base: Policy,
  dir: string,
  options: LoadAdapterOptions = {},
): Promise<Policy> {
  const context = `Cannot load the LoRA adapter ${JSON.stringify(dir)}`;
  const projections = adaptableProjections(base, context);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder().decode(await readFile(dir, CONFIG, context)));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new Error(`${context}: ${CONFIG} is not valid JSON (${error.message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${context}: ${CONFIG} is not a JSON object`);
  }
  const { rank, alpha, targetModules } = readConfig(raw, context);
  // Only the header first: every tensor is checked before anything is read or allocated.
  let header: SafetensorsHeader;
  try {
    header = await readSafetensorsHeader(join(dir, WEIGHTS), WEIGHTS, { dtypes: FLOAT_DTYPES });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`${context}: ${WEIGHTS} is missing`);
    throw new Error(`${context}: ${(error as Error).message.replace(/^Cannot read /, "")}`);
  }
  const found = new Map<string, { key: string; tensor: SafetensorsEntry }>();
  const modules = new Set<string>();
  for (const [key, tensor] of header.tensors) {
    const match = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (match === null) {
      throw new Error(
        `${context}: ${WEIGHTS} has tensor "${key}", which is not a LoRA weight (expected ${KEY_PREFIX}<module>.lora_A.weight or .lora_B.weight)`,
      );
    }
    const [, module, which] = match;
    const layout = projections.get(module);
    if (layout === undefined) {
      throw new RangeError(
        `${context}: tensor "${key}" adapts module "${module}", which the base model does not have; its linear modules: ${
          projectionNames(projections.keys()).join(", ")
        }`,
      );
    }
    const [fanIn, fanOut] = projectionSize(base, module, layout);
    const expected = which === "A" ? [rank, fanIn] : [fanOut, rank];
    if (tensor.shape.length !== 2 || tensor.shape.some((n, i) => n !== expected[i])) {
      throw new Error(
        `${context}: tensor "${key}" in ${WEIGHTS} has shape [${tensor.shape}], expected [${expected}] (r ${rank})`,
      );
    }
    modules.add(module);
    found.set(which === "A" ? loraAName(module) : loraBName(module), { key, tensor });
  }
  if (modules.size === 0) throw new Error(`${context}: ${WEIGHTS} has no LoRA weights`);
  for (const module of modules) {
    for (const name of [loraAName(module), loraBName(module)]) {
      if (!found.has(name)) {
        throw new Error(`${context}: ${WEIGHTS} lacks tensor "${KEY_PREFIX}${name}"`);
      }
    }
  }
  const ordered = new Map([...projections].filter(([module]) => modules.has(module)));
  const adapters = new Map<string, tf.Variable>();
  try {
    using file = await Deno.open(join(dir, WEIGHTS), { read: true });
    for (const module of ordered.keys()) {
      for (const name of [loraAName(module), loraBName(module)]) {
        const { key, tensor } = found.get(name)!;
        const data = await readSafetensorsFloat32(file, key, tensor, WEIGHTS);
        const initial = tf.tensor(data, tensor.shape, "float32");
        adapters.set(name, tf.variable(initial, true));
        initial.dispose();
      }
    }
  } catch (error) {
    for (const v of adapters.values()) v.dispose();
    throw new Error(`${context}: ${(error as Error).message.replace(/^Cannot read /, "")}`);
  }
  const names = targetModules ??
    [...new Set([...ordered.keys()].map((m) => m.slice(m.lastIndexOf(".") + 1)))];
  const saved = raw.base_model_name_or_path;
  const baseModel = options.baseModel ?? (typeof saved === "string" ? saved : undefined);
  return adaptedPolicy(
    {
      base,
      rank,
      alpha,
      targetModules: names,
      modules: ordered,
      ...(baseModel === undefined ? {} : { baseModel }),
    },
    adapters,
  );
}
