/**
 * Saving and loading training checkpoints in a Hugging Face–like directory, atomically.
 *
 * ```
 * <dir>/config.json               format, trepo version, policy (and value-model) config, optimizer hyper-parameters
 * <dir>/model.safetensors         policy weights by name ("wte", "h0.attn.wqkv", …, "head")
 * <dir>/value_model.safetensors   optional: value-model weights
 * <dir>/optimizer.safetensors     optional: optimizer state (iteration count, Adam moments)
 * <dir>/trainer_state.json        step, metrics, training config, PRNG states: any JSON
 * <dir>/tokenizer.json            optional: the character vocabulary
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Random, RandomState } from "../random.ts";
import { charTokenizer, type Tokenizer } from "../tasks/task.ts";
import { checkFiniteValues, describe } from "../validate.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
} from "../io/safetensors.ts";
import {
  checkWeightNames,
  decodeOptimizerWeights,
  encodeOptimizers,
  encodeTrainerState,
  type OptimizerConfigs,
  optimizerConfigsOf,
  type OptimizerWeight,
  rebuildOptimizers,
} from "./training_state.ts";

export type { OptimizerWeight };
import { committedDirectory, joinPath, writeDirectoryAtomically } from "../io/atomic_directory.ts";
import {
  createPolicy,
  type Policy,
  type PolicyConfig,
  policyWeightSpecs,
  validatePolicyConfig,
  type WeightSpec,
} from "./transformer.ts";
import { createValueModel, type ValueModel, valueModelWeightSpecs } from "./value_model.ts";
import packageJson from "../../deno.json" with { type: "json" };

/** The trepo version written into `config.json`. */
export const TREPO_VERSION: string = packageJson.version;
/** The checkpoint layout version written into `config.json`. */
export const CHECKPOINT_FORMAT_VERSION = 1;

const FORMAT = "trepo-checkpoint";
const CONFIG = "config.json";
const MODEL = "model.safetensors";
const VALUE_MODEL = "value_model.safetensors";
const OPTIMIZER = "optimizer.safetensors";
const TRAINER_STATE = "trainer_state.json";
const TOKENIZER = "tokenizer.json";

/** What {@linkcode saveCheckpoint} writes. */
export interface SaveCheckpointOptions {
  /** The policy; its weights go to `model.safetensors`. */
  policy: Policy;
  /** An optional value model (critic); its weights go to `value_model.safetensors`. */
  valueModel?: ValueModel;
  /**
   * Optimizers by name (for example `{ policy: adam, value: adam2 }`); their state (from
   * `getWeights()`: iteration count and slots such as Adam's moments) goes to
   * `optimizer.safetensors` and their class and hyper-parameters (`getConfig()`) to `config.json`.
   * Their slots must belong to weights of `policy` or `valueModel`.
   */
  optimizers?: Record<string, tf.Optimizer>;
  /** PRNG state(s) to resume bit-exactly: one `Random`/`RandomState` or a record of them. */
  rng?: RandomState | Random | Record<string, RandomState | Random>;
  /** Anything JSON: step, metrics, training config. Saved in `trainer_state.json`. */
  state?: Record<string, unknown>;
  /** An optional character tokenizer, saved as `tokenizer.json`. */
  tokenizer?: Tokenizer;
}

/** The `config.json` of a checkpoint. */
export interface CheckpointConfig {
  /** Always `"trepo-checkpoint"`. */
  format: string;
  /** The layout version. */
  format_version: number;
  /** The trepo version that wrote it. */
  trepo_version: string;
  /** A Hugging Face–style model type. */
  model_type: string;
  /** The policy's config. */
  policy: PolicyConfig;
  /** The value model's config, when one was saved. */
  value_model?: PolicyConfig;
  /** Each saved optimizer's class name and hyper-parameters. */
  optimizers?: OptimizerConfigs;
  /** The files of the checkpoint (`config.json` included). */
  files: string[];
  /** Hugging Face–style mirrors of the policy config. */
  vocab_size: number;
  /** Width of the residual stream. */
  n_embd: number;
  /** Number of blocks. */
  n_layer: number;
  /** Attention heads. */
  n_head: number;
  /** Longest sequence. */
  n_positions: number;
}

/** What {@linkcode loadCheckpoint} returns. The caller owns (and disposes) every tensor in it. */
export interface LoadedCheckpoint {
  /** The directory actually read (differs from the one asked for after crash recovery). */
  dir: string;
  /** The parsed `config.json`. */
  config: CheckpointConfig;
  /** A trainable policy with the saved weights. */
  policy: Policy;
  /** The value model, when one was saved. */
  valueModel?: ValueModel;
  /**
   * Each optimizer rebuilt from its class and hyper-parameters, with its state restored
   * (`setWeights`), ready to continue training `policy` / `valueModel`. Dispose with `dispose()`.
   */
  optimizers?: Record<string, tf.Optimizer>;
  /**
   * Each optimizer's raw state as `setWeights` takes it (`"iter"` first, then the slots, named
   * after the NEW variables and ordered for `tf.variableGrads(f, [...weights.values()])`), for
   * restoring into an optimizer built elsewhere. Separate copies: `tf.dispose` them when done.
   */
  optimizerWeights?: Record<string, OptimizerWeight[]>;
  /** The saved PRNG state(s), as saved. */
  rng?: RandomState | Record<string, RandomState>;
  /** The saved trainer state (`{}` when none was given). */
  state: Record<string, unknown>;
  /** The tokenizer, when one was saved. */
  tokenizer?: Tokenizer;
}

/** Options of {@linkcode loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** When given, the checkpoint's policy config must equal it. */
  policyConfig?: PolicyConfig;
}

// ------------------------------------------------------------------------------------------------
// Saving

async function weightsFile(
  weights: ReadonlyMap<string, tf.Variable>,
  kind: string,
): Promise<Uint8Array> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, w] of weights) {
    tensors.set(name, {
      dtype: "F32",
      shape: [...w.shape],
      data: new Float32Array(await w.data() as Float32Array),
    });
  }
  return encodeSafetensors(tensors, { format: "trepo", model: kind });
}

/**
 * Save a training checkpoint atomically.
 *
 * Everything is written into a sibling temporary directory `.<name>.partial-<nonce>`, each file
 * fsynced; the directory is then renamed `.<name>.staged-<nonce>` (complete), the previous
 * checkpoint (if any) is renamed aside to `.<name>.old-<nonce>`, the staged one is renamed to
 * `<dir>`, and the old one is deleted. A crash at any point leaves either the previous or the new
 * checkpoint loadable. The commit point is the rename of the previous checkpoint aside: while
 * `<dir>` exists it is what {@linkcode loadCheckpoint} reads; when it is missing (a crash between
 * the two renames) the staged new one is read, else the old one. Partial directories are ignored,
 * and every leftover is removed by the next successful save. One writer per directory at a time.
 *
 * Used by the training loop of every algorithm (PPO, GRPO, ReMax, RLOO, TRePO) to save and resume.
 *
 * Preconditions: `dir` is absent, or a checkpoint, or an empty directory (anything else is
 * refused rather than replaced); `state` is JSON-serialisable (NaN becomes null).
 *
 * @param dir The checkpoint directory.
 * @param options The policy and optionally a value model, optimizers, PRNG states, trainer state
 *   and tokenizer.
 * @throws {TypeError} For a missing policy or state that is not JSON-serialisable.
 * @throws {Error} When `dir` exists and is not a checkpoint.
 *
 * @example Round trip
 * ```ts
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * import { createPolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(`${dir}/ckpt`, { policy, state: { step: 3 } });
 * const loaded = await loadCheckpoint(`${dir}/ckpt`);
 * assertEquals(loaded.state, { step: 3 });
 * assertEquals(loaded.policy.weights.get("wte")!.dataSync(), policy.weights.get("wte")!.dataSync());
 * policy.dispose();
 * loaded.policy.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  const context = `Cannot save the checkpoint ${JSON.stringify(dir)}`;
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError(
      `Cannot save the checkpoint: dir must be a non-empty string, got ${describe(dir)}`,
    );
  }
  const { policy, valueModel, optimizers, tokenizer } = options ?? ({} as SaveCheckpointOptions);
  if (typeof policy !== "object" || policy === null || !(policy.weights instanceof Map)) {
    throw new TypeError(`${context}: policy must be a Policy, got ${describe(policy)}`);
  }
  if (valueModel !== undefined && !(valueModel?.weights instanceof Map)) {
    throw new TypeError(`${context}: valueModel must be a ValueModel, got ${describe(valueModel)}`);
  }
  // Serialise every JSON part first, so that a bad state fails before anything is written.
  const trainerState = encodeTrainerState(options.state, options.rng, context);
  const files = new Map<string, Uint8Array>();
  files.set(MODEL, await weightsFile(policy.weights, "policy"));
  if (valueModel !== undefined) {
    files.set(VALUE_MODEL, await weightsFile(valueModel.weights, "value_model"));
  }
  let optimizerConfigs: CheckpointConfig["optimizers"];
  if (optimizers !== undefined && Object.keys(optimizers).length > 0) {
    const { bytes, configs } = await encodeOptimizers(
      optimizers,
      { policy: policy.weights, value_model: valueModel?.weights },
      context,
    );
    files.set(OPTIMIZER, bytes);
    optimizerConfigs = configs;
  }
  const encoder = new TextEncoder();
  files.set(TRAINER_STATE, trainerState);
  if (tokenizer !== undefined) {
    files.set(
      TOKENIZER,
      encoder.encode(
        JSON.stringify({ type: "char", vocab: tokenizer.vocab, eos: tokenizer.eos }, null, 2) +
          "\n",
      ),
    );
  }
  const config: CheckpointConfig = {
    format: FORMAT,
    format_version: CHECKPOINT_FORMAT_VERSION,
    trepo_version: TREPO_VERSION,
    model_type: "trepo-gpt",
    policy: { ...policy.config },
    ...(valueModel !== undefined ? { value_model: { ...valueModel.config } } : {}),
    ...(optimizerConfigs !== undefined ? { optimizers: optimizerConfigs } : {}),
    files: [CONFIG, ...files.keys()],
    vocab_size: policy.config.vocabSize,
    n_embd: policy.config.dModel,
    n_layer: policy.config.layers,
    n_head: policy.config.heads,
    n_positions: policy.config.maxLength,
  };
  files.set(CONFIG, encoder.encode(JSON.stringify(config, null, 2) + "\n"));
  await writeDirectoryAtomically(dir, files, context);
}

// ------------------------------------------------------------------------------------------------
// Loading

async function readBytes(path: string, context: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${context}: ${path} is missing`);
    }
    throw error;
  }
}

async function readJson(path: string, context: string): Promise<Record<string, unknown>> {
  const text = new TextDecoder().decode(await readBytes(path, context));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `${context}: ${path} is not valid JSON, the file is truncated or corrupt (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${context}: ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

async function readSafetensors(path: string, context: string): Promise<SafetensorsFile> {
  const bytes = await readBytes(path, context);
  try {
    return decodeSafetensors(bytes, { source: path });
  } catch (error) {
    throw new Error(`${context}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
}

/** Check that a weights file holds exactly the weights a config implies (names, shapes, dtype). */
function checkWeights(
  file: SafetensorsFile,
  specs: readonly WeightSpec[],
  path: string,
  configPath: string,
  context: string,
): void {
  const expected = new Map(specs.map((s) => [s.name, s.shape]));
  checkWeightNames(file.tensors, expected, path, configPath, context);
  for (const name of expected.keys()) {
    // A NaN or ±Infinity weight (a diverged run, a damaged file) is refused here, by name.
    checkFiniteValues(
      context,
      `${path}: weight "${name}"`,
      file.tensors.get(name)!.data as Float32Array,
    );
  }
}

function assignWeights(weights: ReadonlyMap<string, tf.Variable>, file: SafetensorsFile): void {
  tf.tidy(() => {
    for (const [name, v] of weights) {
      const t = file.tensors.get(name)!;
      v.assign(tf.tensor(t.data as Float32Array, t.shape, "float32"));
    }
  });
}

/** Where a checkpoint actually is: `dir`, else the newest staged, else the newest old sibling. */
function resolveDir(dir: string): Promise<string> {
  return committedDirectory(dir, "Cannot load the checkpoint", CONFIG);
}

function sameConfig(a: PolicyConfig, b: PolicyConfig): boolean {
  return a.vocabSize === b.vocabSize && a.dModel === b.dModel && a.layers === b.layers &&
    a.heads === b.heads && a.maxLength === b.maxLength && a.seed === b.seed;
}

/**
 * Load a checkpoint written by {@linkcode saveCheckpoint}, validating every file.
 *
 * When `<dir>` is missing because a save was interrupted between its renames, the newest complete
 * sibling (`.<name>.staged-*`, then `.<name>.old-*`) is read instead; half-written
 * `.<name>.partial-*` directories are ignored. Nothing on disk is changed.
 *
 * Optimizer state: tfjs optimizers keep slots by position in the order of the first
 * `applyGradients` call. The slots are renamed to the new variables and ordered as
 * `tf.variableGrads(f, [...policy.weights.values()])` orders them, which is how trepo's trainers
 * call it. Bias corrections are recomputed by tfjs as `β^(t+1)` on restore (the live optimizer
 * multiplies β in each step), so a resumed Adam step may differ from an uninterrupted one in the
 * last bits; the weights, moments and iteration count round-trip bit-exactly.
 *
 * Used by the training loop to resume, and by the Hub integration.
 *
 * @param dir The checkpoint directory.
 * @param options An expected policy config, checked against `config.json`.
 * @returns The policy, value model, optimizers, PRNG states, trainer state and tokenizer.
 * @throws {Error} Naming the file, for a missing, truncated or corrupt file, or weights that do
 *   not match the config (names or shapes).
 * @throws {RangeError} Naming the file and the weight, for a NaN or ±Infinity weight.
 *
 * @example Load and check the config
 * ```ts
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * import { createPolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const config = { vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 };
 * const policy = createPolicy(config);
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(dir, { policy });
 * const loaded = await loadCheckpoint(dir, { policyConfig: config });
 * assertEquals(loaded.config.n_embd, 8);
 * await assertRejects(() => loadCheckpoint(dir, { policyConfig: { ...config, dModel: 16 } }), Error, "config.json");
 * policy.dispose();
 * loaded.policy.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError(
      `Cannot load the checkpoint: dir must be a non-empty string, got ${describe(dir)}`,
    );
  }
  const root = await resolveDir(dir);
  const context = `Cannot load the checkpoint ${JSON.stringify(root)}`;
  const configPath = joinPath(root, CONFIG);
  const raw = await readJson(configPath, context);
  if (raw.format !== FORMAT) {
    throw new Error(
      `${context}: ${configPath} has format ${JSON.stringify(raw.format)}, expected "${FORMAT}"`,
    );
  }
  if (typeof raw.format_version !== "number" || raw.format_version > CHECKPOINT_FORMAT_VERSION) {
    throw new Error(
      `${context}: ${configPath} has format_version ${raw.format_version}, this trepo reads up to ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const config = raw as unknown as CheckpointConfig;
  const policyConfig = validatePolicyConfig(
    config.policy,
    `${context}: ${configPath} has an invalid policy config`,
  );
  if (options.policyConfig !== undefined && !sameConfig(policyConfig, options.policyConfig)) {
    throw new Error(
      `${context}: the policy config in ${configPath} (${
        JSON.stringify(policyConfig)
      }) does not match the expected ${JSON.stringify(options.policyConfig)}`,
    );
  }
  const listed = Array.isArray(config.files) ? config.files : [CONFIG, MODEL, TRAINER_STATE];
  const modelPath = joinPath(root, MODEL);
  const modelFile = await readSafetensors(modelPath, context);
  checkWeights(modelFile, policyWeightSpecs(policyConfig), modelPath, configPath, context);
  let valueFile: SafetensorsFile | undefined;
  let valueConfig: PolicyConfig | undefined;
  if (config.value_model !== undefined || listed.includes(VALUE_MODEL)) {
    valueConfig = validatePolicyConfig(
      config.value_model as PolicyConfig,
      `${context}: ${configPath} has an invalid value_model config`,
    );
    const path = joinPath(root, VALUE_MODEL);
    valueFile = await readSafetensors(path, context);
    checkWeights(valueFile, valueModelWeightSpecs(valueConfig), path, configPath, context);
  }
  let optimizerFile: SafetensorsFile | undefined;
  if (listed.includes(OPTIMIZER)) {
    optimizerFile = await readSafetensors(joinPath(root, OPTIMIZER), context);
  }
  const trainerPath = joinPath(root, TRAINER_STATE);
  const trainer = await readJson(trainerPath, context);
  let tokenizer: Tokenizer | undefined;
  if (listed.includes(TOKENIZER)) {
    const path = joinPath(root, TOKENIZER);
    const t = await readJson(path, context);
    const vocab = t.vocab;
    if (t.type !== "char" || t.eos !== 0 || !Array.isArray(vocab) || vocab.length < 2) {
      throw new Error(`${context}: ${path} is not a character tokenizer with EOS id 0`);
    }
    tokenizer = charTokenizer(vocab.slice(1) as string[], { eosToken: String(vocab[0]) });
  }

  // Everything validated: build the models.
  const policy = createPolicy(policyConfig);
  assignWeights(policy.weights, modelFile);
  let valueModel: ValueModel | undefined;
  if (valueFile !== undefined && valueConfig !== undefined) {
    valueModel = createValueModel(valueConfig);
    assignWeights(valueModel.weights, valueFile);
  }
  const result: LoadedCheckpoint = {
    dir: root,
    config,
    policy,
    state: (trainer.state ?? {}) as Record<string, unknown>,
  };
  if (valueModel !== undefined) result.valueModel = valueModel;
  if (trainer.rng !== undefined) {
    result.rng = trainer.rng as RandomState | Record<string, RandomState>;
  }
  if (tokenizer !== undefined) result.tokenizer = tokenizer;
  if (optimizerFile !== undefined) {
    try {
      const weights = decodeOptimizerWeights(
        optimizerFile,
        { policy: policy.weights, value_model: valueModel?.weights },
        joinPath(root, OPTIMIZER),
        context,
      );
      result.optimizerWeights = weights;
      result.optimizers = await rebuildOptimizers(
        weights,
        optimizerConfigsOf(optimizerFile) ?? config.optimizers ?? {},
        context,
        configPath,
      );
    } catch (error) {
      policy.dispose();
      valueModel?.dispose();
      tf.dispose(Object.values(result.optimizerWeights ?? {}).flat().map((w) => w.tensor));
      throw error;
    }
  }
  return result;
}

/**
 * The files of a checkpoint, as paths (`<dir>/config.json`, `<dir>/model.safetensors`, …), in
 * the order `config.json` lists them. Follows the same crash recovery as
 * {@linkcode loadCheckpoint}. Used by the Hub integration to upload a checkpoint.
 *
 * @param dir The checkpoint directory.
 * @returns The paths of the checkpoint's files.
 * @throws {Error} When there is no checkpoint or its `config.json` is unreadable.
 *
 * @example
 * ```ts
 * import { checkpointFiles, saveCheckpoint } from "./checkpoint.ts";
 * import { createPolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(dir, { policy });
 * const files = (await checkpointFiles(dir)).map((p) => p.slice(dir.length + 1));
 * assertEquals(files, ["config.json", "model.safetensors", "trainer_state.json"]);
 * policy.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkpointFiles(dir: string): Promise<string[]> {
  const root = await resolveDir(dir);
  const context = `Cannot list the checkpoint ${JSON.stringify(root)}`;
  const config = await readJson(joinPath(root, CONFIG), context);
  const files = Array.isArray(config.files)
    ? config.files as string[]
    : [CONFIG, MODEL, TRAINER_STATE];
  return files.map((name) => joinPath(root, name));
}
