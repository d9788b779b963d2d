/**
 * The checkpoint of a run on a pretrained policy: the model in the Hugging Face layout (or, under
 * LoRA, the adapter in PEFT's), plus what a resume needs, all committed at once:
 *
 * ```
 * <dir>/config.json, model.safetensors, generation_config.json, tokenizer files   (full fine-tuning)
 * <dir>/adapter_config.json, adapter_model.safetensors                            (LoRA)
 * <dir>/value_model.safetensors   PPO's critic (F32, by weight name)
 * <dir>/optimizer.safetensors     Adam's moments and steps, with each optimizer's class and config
 * <dir>/trainer_state.json        step, config, schedule, PRNG streams, the base's fingerprint
 * ```
 *
 * transformers, PEFT and vLLM load the model files as they are. A resume rebuilds the run on the
 * policy it started from (the base model, LoRA-wrapped with the same options), whose weights the
 * checkpoint's replace; the fingerprint of the base refuses another model.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import type { ValueModel } from "../policy/value_model.ts";
import { pretrainedFiles } from "../models/pretrained.ts";
import { adapterFiles } from "../models/peft_adapter.ts";
import { loraAdapterOf } from "../models/lora.ts";
import type { HfTokenizer } from "../models/hf_tokenizer.ts";
import { exists, joinPath, writeDirectoryAtomically } from "../io/atomic_directory.ts";
import {
  encodeSafetensors,
  readSafetensorsFloat32,
  readSafetensorsHeader,
} from "../io/safetensors.ts";
import {
  checkWeightNames,
  encodeOptimizers,
  encodeTrainerState,
  readOptimizers,
  type RngStates,
} from "../policy/training_state.ts";
import { checkFiniteValues } from "../validate.ts";

/** How a run checkpoint stores its model. */
export type CheckpointLayout = "trepo" | "hugging-face" | "peft";

const ADAPTER_CONFIG = "adapter_config.json";
const ADAPTER_WEIGHTS = "adapter_model.safetensors";
const ADAPTER_PREFIX = "base_model.model.";
const MODEL_WEIGHTS = "model.safetensors";
const VALUE_MODEL = "value_model.safetensors";
const OPTIMIZER = "optimizer.safetensors";

/**
 * The layout of the checkpoint in `dir`, from the files it holds; `undefined` when there is none.
 *
 * @param dir A checkpoint folder.
 * @returns `"peft"` (adapter_config.json), `"hugging-face"` (generation_config.json) or `"trepo"`.
 */
export async function checkpointLayout(dir: string): Promise<CheckpointLayout | undefined> {
  if (await exists(joinPath(dir, ADAPTER_CONFIG))) return "peft";
  if (await exists(joinPath(dir, "generation_config.json"))) return "hugging-face";
  if (await exists(joinPath(dir, "config.json"))) return "trepo";
  return undefined;
}

/** What {@linkcode savePretrainedRunCheckpoint} writes. */
export interface PretrainedRunCheckpoint {
  /** A pretrained or LoRA policy. */
  policy: Policy;
  /** PPO's critic. */
  valueModel?: ValueModel;
  /** The optimizers by name (`policy`, `value`). */
  optimizers: Record<string, tf.Optimizer>;
  /** The run's PRNG streams. */
  rng: RngStates;
  /** The trainer state (step, config, schedule, fingerprint). */
  state: Record<string, unknown>;
  /** The task's tokenizer (written beside a fully fine-tuned model). */
  tokenizer: HfTokenizer;
}

/**
 * Save a pretrained run's checkpoint in one atomic commit (the layout of this module).
 *
 * @param dir The checkpoint folder (replaced when it is an earlier one).
 * @param checkpoint The models, optimizers and trainer state.
 * @throws {TypeError} For a state that is not JSON-serialisable.
 */
export async function savePretrainedRunCheckpoint(
  dir: string,
  checkpoint: PretrainedRunCheckpoint,
): Promise<void> {
  const context = `Cannot save the checkpoint ${JSON.stringify(dir)}`;
  const { policy, valueModel } = checkpoint;
  const trainerState = encodeTrainerState(checkpoint.state, checkpoint.rng, context);
  const lora = loraAdapterOf(policy) !== undefined;
  const files = lora
    ? await adapterFiles(policy, {}, context)
    : await pretrainedFiles(policy, checkpoint.tokenizer, context);
  if (valueModel !== undefined) {
    const tensors = new Map<string, { dtype: "F32"; shape: number[]; data: Float32Array }>();
    for (const [name, w] of valueModel.weights) {
      tensors.set(name, {
        dtype: "F32",
        shape: [...w.shape],
        data: await w.data() as Float32Array,
      });
    }
    files.set(VALUE_MODEL, encodeSafetensors(tensors, { format: "pt" }));
  }
  const { bytes } = await encodeOptimizers(
    checkpoint.optimizers,
    { policy: policy.weights, value_model: valueModel?.weights },
    context,
  );
  files.set(OPTIMIZER, bytes);
  files.set("trainer_state.json", trainerState);
  await writeDirectoryAtomically(dir, files, context, lora ? ADAPTER_CONFIG : "config.json");
}

/**
 * Put a pretrained run's checkpoint back into the models of the resumed run: the policy's (or
 * the adapter's) weights and the critic's are replaced by the saved ones, and the optimizers are
 * rebuilt with their state. Every file is checked (names, shapes, F32, finite) before a weight is
 * changed.
 *
 * @param dir The checkpoint folder.
 * @param layout `"hugging-face"` or `"peft"`.
 * @param models The resumed run's policy, and its critic for PPO.
 * @returns The optimizers by name; the caller disposes them.
 * @throws {Error} Naming the file, when it does not match the models.
 */
export async function restorePretrainedRunCheckpoint(
  dir: string,
  layout: "hugging-face" | "peft",
  models: { policy: Policy; valueModel?: ValueModel },
): Promise<Record<string, tf.Optimizer>> {
  const context = `Cannot resume training from ${dir}`;
  const assignments = [
    ...await checkedWeights(
      joinPath(dir, layout === "peft" ? ADAPTER_WEIGHTS : MODEL_WEIGHTS),
      models.policy.weights,
      layout === "peft" ? ADAPTER_PREFIX : "",
      context,
    ),
    ...(models.valueModel === undefined
      ? []
      : await checkedWeights(joinPath(dir, VALUE_MODEL), models.valueModel.weights, "", context)),
  ];
  const optimizers = await readOptimizers(
    joinPath(dir, OPTIMIZER),
    { policy: models.policy.weights, value_model: models.valueModel?.weights },
    undefined,
    context,
  );
  try {
    for (const assign of assignments) await assign();
  } catch (error) {
    Object.values(optimizers).forEach((o) => o.dispose());
    throw error;
  }
  return optimizers;
}

/**
 * Check a weights file against the variables (every name, F32, the shapes) and return one
 * assignment per weight, each reading only its own tensor.
 */
async function checkedWeights(
  path: string,
  weights: ReadonlyMap<string, tf.Variable>,
  prefix: string,
  context: string,
): Promise<(() => Promise<void>)[]> {
  const header = await readSafetensorsHeader(path, path);
  const found = new Map(
    [...header.tensors].filter(([name]) => name.startsWith(prefix)).map((
      [name, entry],
    ) => [name.slice(prefix.length), entry]),
  );
  const expected = new Map([...weights].map(([name, w]) => [name, w.shape]));
  checkWeightNames(found, expected, path, "the policy", context);
  return [...weights].map(([name, variable]) => async () => {
    using file = await Deno.open(path, { read: true });
    const data = await readSafetensorsFloat32(file, name, found.get(name)!, path);
    checkFiniteValues(context, `${path}: weight "${name}"`, data);
    tf.tidy(() => variable.assign(tf.tensor(data, variable.shape, "float32")));
  });
}

/**
 * A fingerprint of the frozen base a run starts from (the policy itself under full fine-tuning,
 * the adapted base under LoRA): FNV-1a over each weight's name, shape and at most 4096 evenly
 * spaced values. A resume refuses a policy whose fingerprint differs.
 *
 * @param policy The policy at the start of the run (before any step).
 * @returns Eight hex digits.
 */
export async function baseFingerprint(policy: Policy): Promise<string> {
  const base = loraAdapterOf(policy)?.base ?? policy;
  let hash = 0x811c9dc5;
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  };
  for (const [name, w] of base.weights) {
    for (const c of new TextEncoder().encode(`${name}[${w.shape.join(",")}]`)) mix(c);
    const values = await w.data() as Float32Array;
    const stride = Math.max(1, Math.floor(values.length / 4096));
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i += stride) {
      const v = bits[i];
      mix(v & 0xff), mix((v >>> 8) & 0xff), mix((v >>> 16) & 0xff), mix(v >>> 24);
    }
  }
  return hash.toString(16).padStart(8, "0");
}
