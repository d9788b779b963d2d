/**
 * Loading and saving Hugging Face checkpoints in a local folder of the Hub layout as trepo
 * policies (a Hub repo is pulled into a folder first, by `lib/hub/load_pretrained.ts`): `config.json`, `model.safetensors` or a sharded `model.safetensors.index.json`,
 * `generation_config.json`, `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja`.
 *
 * @module
 */
import { encodeSafetensors } from "../io/safetensors.ts";
import { writeDirectoryAtomically } from "../io/atomic_directory.ts";
import { makePolicy, type Policy } from "../policy/transformer.ts";
import { gpt2Family } from "./gpt2.ts";
import type { HfConfig, ModelFamily } from "./hf_config.ts";
import { createHfTokenizer, type HfTokenizer } from "./hf_tokenizer.ts";
import { llamaFamily } from "./llama.ts";
import { loadWeights, planWeights } from "./pretrained_weights.ts";
import { qwen2Family } from "./qwen2.ts";
import { qwen3Family } from "./qwen3.ts";

/** The `model_type` values supported. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = ["gpt2", "llama", "qwen2", "qwen3"];

/**
 * The model family of a `config.json`, by its `model_type`.
 *
 * @param config The parsed `config.json`.
 * @returns The family.
 * @throws {RangeError} For a `model_type` other than gpt2, llama, qwen2, qwen3, or an
 * unsupported `rope_scaling`.
 */
export function modelFamily(config: HfConfig): ModelFamily {
  switch (config.model_type) {
    case "gpt2":
      return gpt2Family(config);
    case "llama":
      return llamaFamily(config);
    case "qwen2":
      return qwen2Family(config);
    case "qwen3":
      return qwen3Family(config);
    default:
      throw new RangeError(
        `Cannot read config.json: model_type ${
          JSON.stringify(config.model_type)
        } is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(", ")}`,
      );
  }
}

/** What {@linkcode loadPretrainedFolder} (and `loadPretrained`) returns. */
export interface Pretrained {
  /** The policy (trainable), its `architecture` set to the family. */
  policy: Policy;
  /** The tokenizer and chat template. */
  tokenizer: HfTokenizer;
  /** The parsed `config.json`. */
  config: HfConfig;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

async function readText(dir: string, name: string, context: string): Promise<string>;
async function readText(
  dir: string,
  name: string,
  context: string,
  optional: true,
): Promise<string | undefined>;
async function readText(
  dir: string,
  name: string,
  context: string,
  optional = false,
): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(join(dir, name));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (optional) return undefined;
      throw new Error(`${context}: ${name} is missing`);
    }
    throw error;
  }
}

function parseJson(text: string, name: string, context: string): Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${context}: ${name} is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Load a Hugging Face checkpoint from a local folder as a trainable policy with its tokenizer.
 * (`loadPretrained` in `lib/hub/load_pretrained.ts`, the one `mod.ts` exports, also takes a Hub
 * repo and calls this with the pulled folder.)
 *
 * Weights stored as F32, F16 or BF16 become float32, holding about one float32 copy of the
 * weights: first only the safetensors headers of every shard are read and every tensor is checked
 * (present, shape from `config.json`, dtype, file long enough), and the tokenizer is read, so bad
 * input fails before any variable exists; then the shards are read one at a time, tensor by
 * tensor, each variable created as its values arrive (a failure there disposes what was created). EOS ids come from `generation_config.json` (else the
 * tokenizer's `eos_token`).
 *
 * @param dir The folder (`config.json`, `model.safetensors` or `model.safetensors.index.json`
 * and its shards, `tokenizer.json`, optional `tokenizer_config.json`, `chat_template.jinja`,
 * `generation_config.json`).
 * @returns The policy, tokenizer and config.
 * @throws {Error} Naming the file (and tensor): missing or truncated files, a tensor whose shape
 * disagrees with `config.json`, a dtype other than F32/F16/BF16, a missing weight, an unknown
 * `model_type`, a tokenizer with more ids than the model's vocabulary.
 *
 * @example The GPT-2 test fixture (run from the repository root)
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { loadPretrainedFolder } from "./pretrained.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy, tokenizer, config } = await loadPretrainedFolder("tests/fixtures/hf/gpt2");
 * assertEquals(config.model_type, "gpt2");
 * assertEquals(tokenizer.decode(tokenizer.encode("hello world")), "hello world");
 * policy.dispose();
 * ```
 */
export async function loadPretrainedFolder(dir: string): Promise<Pretrained> {
  const context = `Cannot load the pretrained model ${JSON.stringify(dir)}`;
  const config = parseJson(await readText(dir, "config.json", context), "config.json", context);
  let family: ModelFamily;
  try {
    family = modelFamily(config);
  } catch (error) {
    throw new (error instanceof RangeError ? RangeError : TypeError)(
      `${context}: ${
        (error as Error).message.replace(/^Cannot read config.json: /, "config.json: ")
      }`,
    );
  }
  // Which files hold the weights.
  const index = await readText(dir, "model.safetensors.index.json", context, true);
  let shards: string[];
  if (index !== undefined) {
    const map = parseJson(index, "model.safetensors.index.json", context).weight_map as
      | Record<string, string>
      | undefined;
    if (typeof map !== "object" || map === null) {
      throw new Error(`${context}: model.safetensors.index.json has no weight_map`);
    }
    shards = [...new Set(Object.values(map))];
  } else {
    shards = ["model.safetensors"];
  }
  const plan = await planWeights(dir, shards, family, context);
  // Tokenizer and generation config.
  const generation = await readText(dir, "generation_config.json", context, true);
  let eos: number[] | undefined;
  if (generation !== undefined) {
    const raw = parseJson(generation, "generation_config.json", context).eos_token_id;
    if (typeof raw === "number") eos = [raw];
    else if (Array.isArray(raw)) eos = raw.filter((x): x is number => typeof x === "number");
  }
  const tokenizer = createHfTokenizer(
    {
      tokenizerJson: await readText(dir, "tokenizer.json", context),
      tokenizerConfig: (await readText(dir, "tokenizer_config.json", context, true)) ?? "{}",
      ...(await readText(dir, "chat_template.jinja", context, true).then((t) =>
        t === undefined ? {} : { chatTemplateJinja: t }
      )),
    },
    eos,
    dir,
  );
  const vocab = family.policyConfig.vocabSize;
  if (tokenizer.vocabSize > vocab) {
    throw new RangeError(
      `${context}: the tokenizer has ${tokenizer.vocabSize} ids, more than the model's vocab_size ${vocab}`,
    );
  }
  const weights = await loadWeights(plan, family, context);
  const policy = makePolicy(family.policyConfig, weights, true, family.architecture);
  return { policy, tokenizer, config };
}

/**
 * Save a pretrained policy and its tokenizer in the Hugging Face layout, atomically (the
 * checkpoint commit protocol): `config.json` (the source config, `dtype` float32),
 * `model.safetensors` (F32, Hugging Face names; a tied head is not written),
 * `generation_config.json` (EOS and pad ids), `tokenizer.json`, `tokenizer_config.json` and
 * `chat_template.jinja` when the tokenizer has one. `loadPretrained` of the result gives
 * bit-identical weights, and transformers' `from_pretrained` loads it.
 *
 * @param policy A policy from {@linkcode loadPretrainedFolder} (or a clone of one).
 * @param tokenizer Its tokenizer.
 * @param dir The target folder (replaced if it is a previous save).
 * @throws {TypeError} When the policy has no pretrained architecture.
 */
export async function savePretrained(
  policy: Policy,
  tokenizer: HfTokenizer,
  dir: string,
): Promise<void> {
  const context = `Cannot save the pretrained model ${JSON.stringify(dir)}`;
  await writeDirectoryAtomically(dir, await pretrainedFiles(policy, tokenizer, context), context);
}

/**
 * The files of {@linkcode savePretrained}, by name, without writing them (a run checkpoint adds
 * its optimizer and trainer state to them and commits them all at once).
 *
 * @param policy A pretrained policy.
 * @param tokenizer Its tokenizer.
 * @param context The failed operation, for error messages.
 * @returns File name → bytes.
 * @throws {TypeError} When the policy has no pretrained architecture.
 */
export async function pretrainedFiles(
  policy: Policy,
  tokenizer: HfTokenizer,
  context: string,
): Promise<Map<string, Uint8Array>> {
  const architecture = policy?.architecture;
  if (architecture === undefined) {
    throw new TypeError(
      `${context}: policy has no pretrained architecture (use saveCheckpoint for the built-in GPT)`,
    );
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, w] of policy.weights) {
    tensors.set(name, { shape: [...w.shape], data: (await w.data()) as Float32Array });
  }
  const encoder = new TextEncoder();
  const config: Record<string, unknown> = { ...architecture.hfConfig, dtype: "float32" };
  if ("torch_dtype" in config) config.torch_dtype = "float32";
  const files = new Map<string, Uint8Array>();
  files.set("config.json", encoder.encode(JSON.stringify(config, null, 2) + "\n"));
  files.set(
    "model.safetensors",
    encodeSafetensors(
      new Map([...tensors].map(([name, t]) => [name, { dtype: "F32" as const, ...t }])),
      { format: "pt" },
    ),
  );
  files.set(
    "generation_config.json",
    encoder.encode(
      JSON.stringify(
        { eos_token_id: [...tokenizer.eosTokenIds], pad_token_id: tokenizer.padTokenId },
        null,
        2,
      ) + "\n",
    ),
  );
  files.set("tokenizer.json", encoder.encode(tokenizer.files.tokenizerJson));
  files.set("tokenizer_config.json", encoder.encode(tokenizer.files.tokenizerConfig));
  if (tokenizer.files.chatTemplateJinja !== undefined) {
    files.set("chat_template.jinja", encoder.encode(tokenizer.files.chatTemplateJinja));
  }
  return files;
}
