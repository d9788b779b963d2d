/**
 * The weights of a Hugging Face checkpoint folder as tf variables, holding about one float32 copy
 * of them at any time: {@linkcode planWeights} reads only the safetensors headers of every shard
 * and checks them against the family (names, shapes from `config.json`, dtypes, file lengths), so
 * every bad-input error happens before a variable exists; {@linkcode loadWeights} then reads the
 * shards one at a time, one tensor at a time, creating each variable as its bytes arrive.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelFamily } from "./hf_config.ts";
import {
  FLOAT_DTYPES,
  readSafetensorsFloat32,
  readSafetensorsHeader,
  type SafetensorsEntry,
} from "../io/safetensors.ts";
import { checkFiniteValues } from "../validate.ts";

/** One weight to read: its trepo name, its checkpoint name, and where it lies. */
export interface PlannedWeight {
  /** The family's internal weight name. */
  internal: string;
  /** The tensor's name in the checkpoint. */
  name: string;
  /** Where it lies in its shard (dtype, shape, offset, byte length). */
  tensor: SafetensorsEntry;
}

/** The checked plan of a folder's weights, by shard (file order). */
export interface WeightPlan {
  /** The folder. */
  dir: string;
  /** Shard file name → the weights it provides, in file offset order. */
  shards: Map<string, PlannedWeight[]>;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** `Cannot read x: what` → `context: x: what`. */
function rephrase(error: unknown, context: string): Error {
  return new Error(`${context}: ${(error as Error).message.replace(/^Cannot read /, "")}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/**
 * Pass 1: read the header of every shard (no tensor data) and check each tensor the family uses.
 *
 * @param dir The checkpoint folder.
 * @param shards The shard file names (`model.safetensors`, or the index's files).
 * @param family The model family of `config.json`.
 * @param context The error prefix (`Cannot load the pretrained model "dir"`).
 * @returns Which tensors to read from which shard.
 * @throws {Error} Naming the file (and tensor): a missing shard, a header that is not valid, a
 * dtype other than F32/F16/BF16, a tensor cut off by the end of its file, a tensor the family does
 * not use, a shape that disagrees with `config.json`, a weight found in no shard.
 */
export async function planWeights(
  dir: string,
  shards: readonly string[],
  family: ModelFamily,
  context: string,
): Promise<WeightPlan> {
  const plan: WeightPlan = { dir, shards: new Map() };
  const found = new Set<string>();
  for (const shard of shards) {
    let header;
    try {
      header = await readSafetensorsHeader(join(dir, shard), shard, { dtypes: FLOAT_DTYPES });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new Error(`${context}: ${shard} is missing`);
      throw rephrase(error, context);
    }
    const weights: PlannedWeight[] = [];
    for (const [name, tensor] of header.tensors) {
      const internal = family.weightName(name);
      if (internal === undefined) continue;
      const expected = family.weightShapes.get(internal);
      if (expected === undefined) {
        throw new Error(
          `${context}: ${shard} has tensor "${name}", which ${family.architecture.modelType} with this config.json does not use`,
        );
      }
      if (!sameShape(expected, tensor.shape)) {
        throw new Error(
          `${context}: tensor "${name}" in ${shard} has shape [${tensor.shape}], config.json implies [${expected}]`,
        );
      }
      weights.push({ internal, name, tensor });
      found.add(internal);
    }
    weights.sort((a, b) => a.tensor.offset - b.tensor.offset);
    plan.shards.set(shard, weights);
  }
  for (const name of family.weightShapes.keys()) {
    if (!found.has(name)) {
      throw new Error(`${context}: weight "${name}" is missing from ${shards.join(", ")}`);
    }
  }
  return plan;
}

/**
 * Pass 2: read the planned weights shard by shard and tensor by tensor, creating one trainable
 * variable per weight as soon as its values are converted; the bytes of a tensor are dropped
 * before the next is read. If reading fails anyway (a file changed since pass 1), every variable
 * created so far is disposed before the error is thrown: nothing half-loaded.
 *
 * @param plan The result of {@linkcode planWeights}.
 * @param family The model family (weight order and shapes).
 * @param context The error prefix.
 * @returns The variables in the family's weight order (name → `[...shape]` float32 variable).
 * @throws {Error} Naming the file and tensor when a file is shorter than its header said.
 * @throws {RangeError} Naming the tensor, the file and the index of a NaN or ±Infinity value.
 */
export async function loadWeights(
  plan: WeightPlan,
  family: ModelFamily,
  context: string,
): Promise<Map<string, tf.Variable>> {
  const created = new Map<string, tf.Variable>();
  try {
    for (const [shard, weights] of plan.shards) {
      using file = await Deno.open(join(plan.dir, shard), { read: true });
      for (const { internal, name, tensor } of weights) {
        let values: Float32Array;
        try {
          values = await readSafetensorsFloat32(file, name, tensor, shard);
        } catch (error) {
          throw rephrase(error, context);
        }
        // A NaN or ±Infinity weight would only surface later as NaN logits or probabilities.
        checkFiniteValues(context, `tensor "${name}" in ${shard}`, values);
        const initial = tf.tensor(values, tensor.shape, "float32");
        created.get(internal)?.dispose(); // a weight listed twice: the later one wins
        created.set(internal, tf.variable(initial, true));
        initial.dispose();
      }
    }
  } catch (error) {
    for (const v of created.values()) v.dispose();
    throw error;
  }
  // The family's order (the order policies, checkpoints and optimizers rely on).
  return new Map([...family.weightShapes.keys()].map((name) => [name, created.get(name)!]));
}
