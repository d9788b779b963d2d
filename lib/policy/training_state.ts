/**
 * What a checkpoint holds beyond the model: the optimizers' state (`optimizer.safetensors`:
 * Adam's moments and iteration counts, by model and weight name, with each optimizer's class and
 * hyper-parameters) and the trainer's state (`trainer_state.json`: step, config, PRNG streams).
 * Shared by the trepo-gpt checkpoint and the run checkpoints in the Hugging Face and PEFT layouts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random, type RandomState } from "../random.ts";
import { describe } from "../validate.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsTensor,
} from "../io/safetensors.ts";

/** The version of `trainer_state.json`'s layout. */
export const TRAINER_STATE_VERSION = 1;

/** Each model's weights by name, keyed by the model's name in the file (`policy`, `value_model`). */
export type ModelWeights = Record<string, ReadonlyMap<string, tf.Variable> | undefined>;

/** Each optimizer's class name and hyper-parameters, by the optimizer's name. */
export type OptimizerConfigs = Record<
  string,
  { class_name: string; config: Record<string, unknown> }
>;

/** PRNG state(s): one `Random`/`RandomState` or a record of them. */
export type RngStates = RandomState | Random | Record<string, RandomState | Random>;

/** One named tensor of an optimizer's state, as `tf.Optimizer.getWeights()` returns them. */
export interface OptimizerWeight {
  /** The state's name (`"iter"`, or `<variable name>/<slot>`). */
  name: string;
  /** The value. */
  tensor: tf.Tensor;
}

interface SlotRecord {
  /** Tensor name inside optimizer.safetensors. */
  key: string;
  /** "policy" | "value_model". */
  model: string;
  /** The weight's name in the model. */
  weight: string;
  /** The slot suffix after the variable name (for example "m", "v"). */
  slot: string;
}

/**
 * Encode optimizers' state for `optimizer.safetensors`: each slot (Adam's moments) under its
 * model's and weight's names, the iteration counts, and each optimizer's class and
 * hyper-parameters in the metadata (`optimizers`), so that the file alone rebuilds them.
 *
 * @param optimizers Optimizers by name (`{ policy: adam, value: adam2 }`); no "/" in a name.
 * @param models Each model's weights by name (`{ policy: …, value_model: … }`): every slot
 *   must belong to one of them.
 * @param context The failed operation, for error messages.
 * @returns The file's bytes and the optimizers' configs.
 * @throws {TypeError} When an optimizer is not a `tf.Optimizer`.
 * @throws {RangeError} For a "/" in a name, or a slot of a variable no model holds.
 */
export async function encodeOptimizers(
  optimizers: Record<string, tf.Optimizer>,
  models: ModelWeights,
  context: string,
): Promise<{
  bytes: Uint8Array;
  configs: Record<string, { class_name: string; config: Record<string, unknown> }>;
}> {
  const byVariable = new Map<string, { model: string; weight: string }>();
  for (const [model, weights] of Object.entries(models)) {
    for (const [name, v] of weights ?? []) byVariable.set(v.name, { model, weight: name });
  }
  const tensors = new Map<string, SafetensorsTensor>();
  const layout: Record<string, { iterations: number; slots: SlotRecord[] }> = {};
  const configs: Record<string, { class_name: string; config: Record<string, unknown> }> = {};
  for (const [key, optimizer] of Object.entries(optimizers)) {
    if (
      typeof optimizer !== "object" || optimizer === null ||
      typeof (optimizer as tf.Optimizer).getWeights !== "function"
    ) {
      throw new TypeError(
        `${context}: optimizers.${key} must be a tf.Optimizer, got ${describe(optimizer)}`,
      );
    }
    if (key.includes("/")) {
      throw new RangeError(
        `${context}: optimizer names must not contain "/", got ${JSON.stringify(key)}`,
      );
    }
    const named = await optimizer.getWeights();
    const [iter, ...slots] = named;
    try {
      const iterations = iter === undefined ? 0 : (await iter.tensor.data())[0];
      const records: SlotRecord[] = [];
      for (const [i, { name, tensor }] of slots.entries()) {
        let match: { varName: string; model: string; weight: string } | undefined;
        for (const [varName, target] of byVariable) {
          if (
            name.startsWith(`${varName}/`) &&
            (match === undefined || varName.length > match.varName.length)
          ) {
            match = { varName, ...target };
          }
        }
        if (match === undefined) {
          throw new RangeError(
            `${context}: optimizer "${key}" holds state "${name}" for a variable that is neither a policy nor a value-model weight`,
          );
        }
        const record: SlotRecord = {
          key: `${key}/${String(i).padStart(5, "0")}`,
          model: match.model,
          weight: match.weight,
          slot: name.slice(match.varName.length + 1),
        };
        records.push(record);
        tensors.set(record.key, {
          dtype: "F32",
          shape: [...tensor.shape],
          data: new Float32Array(await tensor.data() as Float32Array),
        });
      }
      tensors.set(`${key}/iter`, { dtype: "I32", shape: [], data: new Int32Array([iterations]) });
      layout[key] = { iterations, slots: records };
      configs[key] = {
        class_name: optimizer.getClassName(),
        config: { ...optimizer.getConfig() } as Record<string, unknown>,
      };
    } finally {
      // getWeights makes a fresh iteration scalar; the slots are the live variables, except where
      // the optimizer keeps them off the tensors (the fused Adam on wasm), which hands out copies.
      iter?.tensor.dispose();
      tf.dispose(slots.map((s) => s.tensor).filter((t) => !(t instanceof tf.Variable)));
    }
  }
  const bytes = encodeSafetensors(tensors, {
    format: "trepo",
    layout: JSON.stringify(layout),
    optimizers: JSON.stringify(configs),
  });
  return { bytes, configs };
}

/**
 * The JSON of `trainer_state.json`: `{ format_version, state, rng }`, serialised before anything
 * is written so that a bad state fails first.
 *
 * @param state Any JSON: step, config, schedule.
 * @param rng PRNG state(s) to resume bit-exactly.
 * @param context The failed operation, for error messages.
 * @returns The file's bytes.
 * @throws {TypeError} When `state` is not JSON-serialisable or an rng is not a `Random`/state.
 */
export function encodeTrainerState(
  state: Record<string, unknown> | undefined,
  rng: RngStates | undefined,
  context: string,
): Uint8Array {
  try {
    const text = JSON.stringify(
      { format_version: TRAINER_STATE_VERSION, state: state ?? {}, rng: rngStates(rng, context) },
      null,
      2,
    );
    return new TextEncoder().encode(text + "\n");
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith(context)) throw error;
    throw new TypeError(
      `${context}: state must be JSON-serialisable (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
}

function rngStates(
  rng: RngStates | undefined,
  context: string,
): RandomState | Record<string, RandomState> | undefined {
  if (rng === undefined) return undefined;
  const one = (r: unknown, name: string): RandomState => {
    if (r instanceof Random) return r.state();
    try {
      return Random.fromState(r as RandomState).state();
    } catch {
      throw new TypeError(
        `${context}: ${name} must be a Random or a RandomState, got ${describe(r)}`,
      );
    }
  };
  if (rng instanceof Random || (rng as RandomState).algorithm !== undefined) return one(rng, "rng");
  const out: Record<string, RandomState> = {};
  for (const [k, r] of Object.entries(rng as Record<string, unknown>)) out[k] = one(r, `rng.${k}`);
  return out;
}

/**
 * Read optimizers' state back from a decoded `optimizer.safetensors`, renamed to the models' new
 * variables and ordered as `tf.variableGrads(f, [...weights.values()])` orders them (how trepo's
 * trainers call it), ready for `setWeights`.
 *
 * @param file The decoded file.
 * @param models The models the state belongs to, by the names it was encoded with.
 * @param path The file, for error messages.
 * @param context The failed operation, for error messages.
 * @returns Each optimizer's state (`"iter"` first); the caller disposes the tensors.
 * @throws {Error} When the file does not match the models (a weight missing, another shape).
 */
export function decodeOptimizerWeights(
  file: SafetensorsFile,
  models: ModelWeights,
  path: string,
  context: string,
): Record<string, OptimizerWeight[]> {
  let layout: Record<string, { iterations: number; slots: SlotRecord[] }>;
  try {
    layout = JSON.parse(file.metadata.layout ?? "");
  } catch {
    throw new Error(`${context}: ${path} has no valid "layout" metadata`);
  }
  const out: Record<string, OptimizerWeight[]> = {};
  for (const [key, { slots }] of Object.entries(layout)) {
    const iter = file.tensors.get(`${key}/iter`);
    if (iter === undefined || iter.dtype !== "I32" || iter.data.length !== 1) {
      throw new Error(`${context}: ${path} is missing the iteration count "${key}/iter"`);
    }
    // Resolve each slot's new variable, and check that slot lists line up.
    const entries = slots.map((record) => {
      const variable = models[record.model]?.get(record.weight);
      const t = file.tensors.get(record.key);
      if (variable === undefined || t === undefined) {
        throw new Error(
          `${context}: ${path} does not match the models: optimizer "${key}" has state for ${record.model} weight "${record.weight}"`,
        );
      }
      if (
        t.shape.length !== variable.shape.length || t.shape.some((d, i) => d !== variable.shape[i])
      ) {
        throw new Error(
          `${context}: ${path}: optimizer "${key}" state "${record.key}" has shape [${
            t.shape.join(", ")
          }] but weight "${record.weight}" has shape [${variable.shape.join(", ")}]`,
        );
      }
      return { record, variable, t };
    });
    // The saved slots form K lists over the same n variables, in the optimizer's order.
    const firstSlot = entries[0]?.record.slot;
    const n = entries.findIndex((e, i) => i > 0 && e.record.slot !== firstSlot);
    const perList = n < 0 ? entries.length : n;
    if (perList > 0 && entries.length % perList !== 0) {
      throw new Error(`${context}: ${path}: optimizer "${key}" has slot lists of unequal length`);
    }
    const order = orderOfKeys(entries.slice(0, perList).map((e) => e.variable.name));
    const named: OptimizerWeight[] = [{
      name: "iter",
      tensor: tf.scalar(iter.data[0], "int32"),
    }];
    for (let list = 0; perList > 0 && list < entries.length / perList; list++) {
      const block = entries.slice(list * perList, (list + 1) * perList);
      for (const j of order) {
        const e = block[j];
        named.push({
          name: `${e.variable.name}/${e.record.slot}`,
          tensor: tf.tensor(e.t.data as Float32Array, e.t.shape, "float32"),
        });
      }
    }
    out[key] = named;
  }
  return out;
}

/** The permutation that `Object.keys` applies to keys inserted in the given order. */
function orderOfKeys(names: string[]): number[] {
  const index: Record<string, number> = {};
  names.forEach((name, i) => (index[name] = i));
  return Object.keys(index).map((name) => index[name]);
}

/**
 * Rebuild optimizers from their saved class and hyper-parameters, with their state restored.
 *
 * @param weights Each optimizer's state, from {@linkcode decodeOptimizerWeights} (not consumed).
 * @param configs Each optimizer's class and config (from the file's metadata, or a trepo-gpt
 *   checkpoint's `config.json`).
 * @param context The failed operation, for error messages.
 * @param configPath Where the configs came from, for error messages.
 * @returns The optimizers, ready to continue; dispose them when done.
 * @throws {Error} For an optimizer class tfjs does not know.
 */
export async function rebuildOptimizers(
  weights: Record<string, OptimizerWeight[]>,
  configs: OptimizerConfigs,
  context: string,
  configPath: string,
): Promise<Record<string, tf.Optimizer>> {
  const out: Record<string, tf.Optimizer> = {};
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const [key, named] of Object.entries(weights)) {
    const saved = configs[key];
    const entry = saved === undefined ? undefined : registry[saved.class_name];
    if (saved === undefined || entry === undefined) {
      throw new Error(
        `${context}: ${configPath} does not name a known optimizer class for "${key}", got ${
          JSON.stringify(saved?.class_name)
        }`,
      );
    }
    const [cls, fromConfig] = entry;
    const optimizer = fromConfig(
      cls,
      saved.config as tf.serialization.ConfigDict,
    ) as unknown as tf.Optimizer;
    // setWeights wraps each tensor in a new variable sharing its data; pass copies so that the
    // caller's optimizerWeights stay independent.
    const copies = named.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    await optimizer.setWeights(copies);
    tf.dispose(copies.map((c) => c.tensor));
    out[key] = optimizer;
  }
  return out;
}

/**
 * The optimizer configs a decoded `optimizer.safetensors` carries in its metadata, if any (files
 * written before they moved there carry none: a trepo-gpt checkpoint keeps them in config.json).
 *
 * @param file The decoded file.
 * @returns The configs, or `undefined`.
 */
export function optimizerConfigsOf(file: SafetensorsFile): OptimizerConfigs | undefined {
  const text = file.metadata.optimizers;
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as OptimizerConfigs;
  } catch {
    return undefined;
  }
}

/**
 * Check that the tensors of a weights file are exactly the weights expected: the same names, F32,
 * the same shapes; the message lists every missing and unexpected name.
 *
 * @param found The file's tensors by name (dtype and shape; a header or a decoded file).
 * @param expected Each expected weight's shape by name.
 * @param path The file, for error messages.
 * @param against What defines the expected weights (a config file, "the policy"), for messages.
 * @param context The failed operation, for error messages.
 * @throws {Error} Naming the file and the first mismatch.
 */
export function checkWeightNames(
  found: ReadonlyMap<string, { dtype: SafetensorsDtype; shape: readonly number[] }>,
  expected: ReadonlyMap<string, readonly number[]>,
  path: string,
  against: string,
  context: string,
): void {
  const missing = [...expected.keys()].filter((n) => !found.has(n));
  const extra = [...found.keys()].filter((n) => !expected.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `${context}: ${path} does not match ${against}: ${
        [
          missing.length > 0 ? `missing weights ${missing.map((n) => `"${n}"`).join(", ")}` : "",
          extra.length > 0 ? `unexpected weights ${extra.map((n) => `"${n}"`).join(", ")}` : "",
        ].filter((s) => s !== "").join("; ")
      }`,
    );
  }
  for (const [name, shape] of expected) {
    const t = found.get(name)!;
    if (t.dtype !== "F32") {
      throw new Error(`${context}: ${path}: weight "${name}" has dtype ${t.dtype}, expected F32`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${context}: ${path} does not match ${against}: weight "${name}" has shape [${
          t.shape.join(", ")
        }] in the file but [${shape.join(", ")}] by the config`,
      );
    }
  }
}

/**
 * Read `optimizer.safetensors` and rebuild its optimizers against the given models' variables
 * (which may be other variables than the ones it was saved from: a resume into the caller's
 * policy).
 *
 * @param path The file.
 * @param models The models the state belongs to (`policy`, `value_model`).
 * @param configs The optimizers' configs when the file carries none (a trepo-gpt checkpoint's
 *   `config.json`).
 * @param context The failed operation, for error messages.
 * @returns The optimizers by name; the caller disposes them.
 * @throws {Error} When the file is missing or does not match the models.
 */
export async function readOptimizers(
  path: string,
  models: ModelWeights,
  configs: OptimizerConfigs | undefined,
  context: string,
): Promise<Record<string, tf.Optimizer>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`${context}: ${path} is missing`);
    throw error;
  }
  const file = decodeSafetensors(bytes, { source: path });
  const named = decodeOptimizerWeights(file, models, path, context);
  try {
    return await rebuildOptimizers(named, optimizerConfigsOf(file) ?? configs ?? {}, context, path);
  } finally {
    tf.dispose(Object.values(named).flat().map((w) => w.tensor));
  }
}
