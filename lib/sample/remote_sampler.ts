/**
 * A {@linkcode Sampler} backed by an OpenAI-compatible inference server (vLLM, SGLang):
 * responses and TRePO continuations are generated there, token ids in and out.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Policy } from "../policy/transformer.ts";
import { loraAdapterOf } from "../models/lora.ts";
import { saveAdapter } from "../models/peft_adapter.ts";
import { concurrencyLimit } from "../remote/concurrency.ts";
import { type ServerClient, serverClient, type ServerRetry } from "../remote/server_client.ts";
import type { Random } from "../random.ts";
import { checkInteger, checkNumber, describe } from "../validate.ts";
import { type CompletionRows, completionRows } from "./completion_choices.ts";
import type { Continuations, ContinueFromOptions, Prefix } from "./continue_from.ts";
import { checkStopTokens, checkTemperature, stopSet } from "./decode.ts";
import type { GreedyOptions } from "./greedy.ts";
import { checkRollout, type Rollout } from "./rollout.ts";
import { makeRollout, type SampleOptions } from "./sample.ts";
import type { Sampler } from "./sampler.ts";
import {
  checkServerModel,
  type ServerModelExpectation,
  type ServerModelInfo,
} from "./server_model_check.ts";

/** Options of {@linkcode remoteSampler}. */
export interface RemoteSamplerOptions {
  /** The server's root URL, e.g. `http://127.0.0.1:8000` (requests go to `/v1/...`). */
  baseUrl: string;
  /** The served model name (as in `vllm serve <model>` or `--served-model-name`). */
  model: string;
  /** API key (`vllm serve --api-key`), sent as a Bearer token; never in error messages. */
  apiKey?: string;
  /** Per-attempt timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
  /** Total deadline of one request, retries included, in milliseconds (default 300 000). */
  deadlineMs?: number;
  /** Told of each retry (`retry 2/4 in 0.5 s after HTTP 429 …`); default none. */
  onRetry?: (retry: ServerRetry) => void;
  /** Retries on network errors, timeouts, 429 and 5xx (default 3). */
  retries?: number;
  /** First backoff delay in milliseconds (default 500). */
  backoffMs?: number;
  /** Requests in flight at once (default 4); `continueFrom` may send several. */
  concurrency?: number;
  /**
   * Paths of the LoRA endpoints. vLLM (default): `/v1/load_lora_adapter` and
   * `/v1/unload_lora_adapter` (the server needs `--enable-lora` and
   * `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). SGLang serves `/load_lora_adapter` and
   * `/unload_lora_adapter` with the same `{lora_name, lora_path}` body.
   */
  adapterPaths?: { load: string; unload: string };
  /**
   * Where {@linkcode RemoteSampler.syncWeights} writes the LoRA adapter of each step (PEFT's
   * layout, one folder per step, the previous one deleted); the server must be able to read it. Needed to train through
   * the server; without it `syncWeights` refuses.
   */
  adapterDir?: string;
  /**
   * The same folder as the server sees it, when its path differs there (a container mount or a
   * network share); default `adapterDir`, made absolute.
   */
  serverAdapterDir?: string;
}

/** A sampler on an inference server, with its start-up check and LoRA hot-swap. */
export interface RemoteSampler extends Sampler {
  /** The base URL requests go to. */
  readonly baseUrl: string;
  /** The model name the next requests sample from (the base model or an adapter). */
  readonly model: string;
  /**
   * Refuse a server whose model does not match the local one (see {@linkcode checkServerModel}):
   * the model must be listed, the vocabulary size and EOS must agree, and `max_model_len` must
   * reach `maxLength`. Afterwards, token ids are checked against `vocabSize` and each request's
   * prompt + `max_tokens` against `max_model_len` before it is sent.
   */
  checkServer(expect: ServerModelExpectation): Promise<ServerModelInfo>;
  /**
   * `train`'s start-up hook: {@linkcode RemoteSampler.checkServer} with the policy's vocabulary
   * size and the task's EOS (the context length is checked per request instead: a server may
   * legitimately serve a shorter `max_model_len` than the model's positions).
   */
  check(policy: Policy, eosToken: number): Promise<void>;
  /** `POST /v1/load_lora_adapter {lora_name, lora_path}`: the server loads a PEFT adapter. */
  loadAdapter(name: string, path: string): Promise<void>;
  /** `POST /v1/unload_lora_adapter {lora_name}`: the server drops the adapter. */
  unloadAdapter(name: string): Promise<void>;
  /** Sample from `name` (an adapter loaded under that name, or the base model) from now on. */
  useModel(name: string): void;
  /**
   * LoRA hot-swap, called by `train` before the first step and after every update: write the
   * policy's adapter to `<adapterDir>/<name>` (`saveAdapter`), load it on the server under
   * `name = trepo-<tag>-step-<step>` (`tag` unique to this sampler), sample from that name from
   * now on, then unload the previous adapter and delete its folder. The policy must be a LoRA policy (`loraPolicy`): the server's base weights
   * cannot follow a full fine-tune. When loading fails, the sampler keeps the previous model.
   */
  syncWeights(policy: Policy, step: number): Promise<void>;
}

/**
 * Make a sampler that generates on an OpenAI-compatible server.
 *
 * **`sample`** sends one `POST /v1/completions` with `prompt` as the `N` token-id arrays,
 * `n = G`, `max_tokens`, `temperature` (and `top_k`/`top_p` when given), `seed`, `logprobs: 0`
 * (vLLM then returns the sampled token's log-prob only), `return_tokens_as_token_ids: true`
 * (each `logprobs.tokens` entry is `"token_id:<id>"`: ids are read back exactly, nothing is
 * re-tokenised), `stop_token_ids: [eos, ...stopTokens]`, `ignore_eos: false` and
 * `skip_special_tokens: false`.
 * vLLM appends a stop token to the output before it checks for the stop, so EOS is part of the
 * returned tokens and log-probs; it is kept inside the rollout's mask as locally. vLLM numbers the
 * choices prompt by prompt (`index = i·G + g`), which is the rollout's row order. The seed is
 * `options.seed`, or one draw `rng.int(2³¹)` per call, so a seeded run sends the same requests.
 *
 * A malformed or truncated response is an error, never a shorter rollout (see
 * {@linkcode completionRows}).
 *
 * **`greedy`** sends the same request with `n = 1`, `temperature: 0` (vLLM's greedy decoding)
 * and no seed, and draws nothing from any random stream. Its log-probs are the server's
 * (temperature-1 `raw_logprobs` in vLLM's default mode).
 *
 * **`continueFrom`** sends `prompt ⊕ first t response tokens` with `n = K` and
 * `max_tokens = maxTokens − t`, one request per distinct remaining budget (request `j` in
 * increasing budget order uses seed `s + j`), up to `concurrency` at once. Prefixes that end
 * with EOS or already hold `maxTokens` tokens are returned as they are.
 *
 * The server's log-probs are those of its own copy of the weights (and, in vLLM, of
 * `--logprobs-mode`: the default `raw_logprobs` is before temperature; `processed_logprobs`
 * matches trepo's `log softmax(z/τ)` when top-k/top-p are off). The sampler is `remote`, so
 * recipes recompute the old log-probs locally. The `policy` argument is not used.
 *
 * @see He et al., arXiv 2506.02553 — the samples W ~ π(·|w₀) and TRePO's continuations.
 * Used by every algorithm through its `sampler` (GRPO, PPO, ReMax, RLOO, TRePO).
 *
 * @param options Server, model, key, timeout, retries and concurrency.
 * @returns The sampler.
 * @throws {TypeError} For a malformed base URL or model name.
 *
 * @example
 * ```ts
 * import { remoteSampler } from "./remote_sampler.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const sampler = remoteSampler({ baseUrl: "http://127.0.0.1:8000", model: "Qwen/Qwen3-0.6B" });
 * assertEquals([sampler.remote, sampler.model], [true, "Qwen/Qwen3-0.6B"]);
 * sampler.useModel("step-3");
 * assertEquals(sampler.model, "step-3");
 * ```
 */
export function remoteSampler(options: RemoteSamplerOptions): RemoteSampler {
  const context = "Cannot create a remote sampler";
  const client = serverClient(options);
  const baseModel = checkName(context, "model", options.model);
  const limit = concurrencyLimit(checkInteger(context, "concurrency", options.concurrency ?? 4, 1));
  const adapterPaths = options.adapterPaths ??
    { load: "/v1/load_lora_adapter", unload: "/v1/unload_lora_adapter" };
  const state: ServerState = { client, model: baseModel, limit };
  const runTag = crypto.randomUUID().slice(0, 8);
  const loadAdapter = async (name: string, path: string): Promise<void> => {
    const where = "Cannot load a LoRA adapter";
    const body = {
      lora_name: checkName(where, "name", name),
      lora_path: checkName(where, "path", path),
    };
    await client.request({
      method: "POST",
      path: adapterPaths.load,
      body,
      summary: `adapter "${name}" from ${path}`,
      expect: "text",
    });
  };
  const unloadAdapter = async (name: string): Promise<void> => {
    const body = { lora_name: checkName("Cannot unload a LoRA adapter", "name", name) };
    await client.request({
      method: "POST",
      path: adapterPaths.unload,
      body,
      summary: `adapter "${name}"`,
      expect: "text",
    });
  };
  const checkServer = async (expect: ServerModelExpectation): Promise<ServerModelInfo> => {
    const info = await checkServerModel(
      `Cannot use the server at ${client.baseUrl}`,
      client,
      state.model,
      expect,
    );
    state.vocabSize = expect.vocabSize;
    state.maxModelLen = info.maxModelLen;
    return info;
  };

  return {
    name: `remote ${client.baseUrl} ${baseModel}`,
    remote: true,
    baseUrl: client.baseUrl,
    get model() {
      return state.model;
    },
    sample: (_policy: Policy, prompts: number[][], sampleOptions: SampleOptions) =>
      remoteSample(state, prompts, sampleOptions),
    greedy: (_policy: Policy, prompts: number[][], greedyOptions: GreedyOptions) =>
      remoteGreedy(state, prompts, greedyOptions),
    continueFrom: (
      _policy: Policy,
      rollout: Rollout,
      prefixes: Prefix[],
      continueOptions: ContinueFromOptions,
    ) => remoteContinueFrom(state, rollout, prefixes, continueOptions),
    check: (policy: Policy, eosToken: number) =>
      checkServer({ vocabSize: policy.config.vocabSize, eosToken }).then(() => undefined),
    checkServer,
    loadAdapter,
    unloadAdapter,
    useModel(name: string) {
      state.model = checkName("Cannot switch the sampled model", "name", name);
    },
    syncWeights: (policy: Policy, step: number) =>
      syncAdapter(state, policy, step, {
        baseModel,
        runTag,
        adapterDir: options.adapterDir,
        serverAdapterDir: options.serverAdapterDir,
        load: loadAdapter,
        unload: unloadAdapter,
      }),
  };
}

/** How {@linkcode syncAdapter} reaches the server. */
interface AdapterSync {
  baseModel: string;
  runTag: string;
  adapterDir: string | undefined;
  serverAdapterDir: string | undefined;
  load(name: string, path: string): Promise<void>;
  unload(name: string): Promise<void>;
}

/** Write the policy's adapter, load it on the server, switch to it, drop the previous one. */
async function syncAdapter(
  state: ServerState,
  policy: Policy,
  step: number,
  sync: AdapterSync,
): Promise<void> {
  const context = `Cannot put the policy's weights on the server at ${state.client.baseUrl}`;
  if (loraAdapterOf(policy) === undefined) {
    throw new TypeError(
      `${context}: the policy is not a LoRA policy, and a server keeps its own base weights, so it would sample from a stale policy after the first update; train a LoRA adapter (loraPolicy, or --lora-rank on the command line)`,
    );
  }
  if (sync.adapterDir === undefined) {
    throw new TypeError(
      `${context}: remoteSampler needs adapterDir, a folder the server can read, to hand it the adapters`,
    );
  }
  checkInteger(context, "step", step, 0);
  // Names are unique to this sampler, so a resumed run never meets an adapter left by another.
  const name = `trepo-${sync.runTag}-step-${step}`;
  const local = join(sync.adapterDir, name);
  const remote = join(sync.serverAdapterDir ?? resolve(sync.adapterDir), name);
  await saveAdapter(policy, local, { baseModel: sync.baseModel });
  const previous = state.adapter;
  try {
    await sync.load(name, remote);
  } catch (error) {
    await Deno.remove(local, { recursive: true }).catch(() => {});
    throw error;
  }
  state.model = name;
  state.adapter = { name, dir: local };
  if (previous !== undefined && previous.name !== name) {
    await sync.unload(previous.name);
    await Deno.remove(previous.dir, { recursive: true }).catch(() => {});
  }
}

/** What the sampler's calls share. */
interface ServerState {
  client: ServerClient;
  model: string;
  limit: <T>(task: () => Promise<T>) => Promise<T>;
  vocabSize?: number;
  maxModelLen?: number;
  /** The adapter `syncWeights` loaded last, and its folder. */
  adapter?: { name: string; dir: string };
}

/** The sampling parameters of one completions request. */
interface CompletionParams {
  n: number;
  maxTokens: number;
  temperature: number;
  eosToken: number;
  stopTokens: readonly number[];
  /** The request's seed; none for greedy decoding (temperature 0). */
  seed?: number;
  topK?: number;
  topP?: number;
}

async function remoteSample(
  state: ServerState,
  prompts: number[][],
  options: SampleOptions,
): Promise<Rollout> {
  const context = `Cannot sample from the server at ${state.client.baseUrl}`;
  const maxTokens = checkInteger(context, "maxTokens", options?.maxTokens, 1);
  const groupSize = checkInteger(context, "groupSize", options.groupSize ?? 1, 1);
  const temperature = checkTemperature(context, options.temperature ?? 1);
  const eosToken = checkEosToken(context, options.eosToken, state.vocabSize);
  const stopTokens = checkStopTokens(context, options.stopTokens, state.vocabSize);
  checkTokenLists(context, "prompts", prompts, state.vocabSize);
  const seed = resolveSeed(context, options.seed, options.rng);
  const rows = await complete(context, state, prompts, {
    n: groupSize,
    maxTokens,
    temperature,
    eosToken,
    stopTokens,
    seed,
    topK: options.topK === undefined ? undefined : checkInteger(context, "topK", options.topK, 1),
    topP: options.topP === undefined
      ? undefined
      : checkNumber(context, "topP", options.topP, { min: 0, max: 1, exclusiveMin: true }),
  });
  const promptRows: number[][] = [];
  for (const p of prompts) for (let g = 0; g < groupSize; g++) promptRows.push([...p]);
  return makeRollout(promptRows, rows.tokens, rows.logProbs, eosToken, groupSize);
}

async function remoteGreedy(
  state: ServerState,
  prompts: number[][],
  options: GreedyOptions,
): Promise<Rollout> {
  const context = `Cannot decode greedily on the server at ${state.client.baseUrl}`;
  const maxTokens = checkInteger(context, "maxTokens", options?.maxTokens, 1);
  const eosToken = checkEosToken(context, options.eosToken, state.vocabSize);
  const stopTokens = checkStopTokens(context, options.stopTokens, state.vocabSize);
  checkTokenLists(context, "prompts", prompts, state.vocabSize);
  const rows = await complete(context, state, prompts, {
    n: 1,
    maxTokens,
    temperature: 0,
    eosToken,
    stopTokens,
  });
  return makeRollout(prompts.map((p) => [...p]), rows.tokens, rows.logProbs, eosToken, 1);
}

async function remoteContinueFrom(
  state: ServerState,
  rollout: Rollout,
  prefixes: Prefix[],
  options: ContinueFromOptions,
): Promise<Continuations> {
  const context = `Cannot continue from prefixes on the server at ${state.client.baseUrl}`;
  const [batch] = checkRollout(context, rollout);
  const samples = checkInteger(context, "samples", options?.samples, 1);
  const maxTokens = checkInteger(context, "maxTokens", options.maxTokens, 1);
  const temperature = checkTemperature(context, options.temperature ?? 1);
  const eosToken = checkEosToken(context, options.eosToken, state.vocabSize);
  const stops = stopSet(eosToken, checkStopTokens(context, options.stopTokens, state.vocabSize));
  checkPrefixes(context, prefixes, batch, rollout.lengths);
  const seed = resolveSeed(context, options.seed, options.rng);
  const tokens = await rollout.tokens.array();
  const heads = prefixes.map(({ row, position }) => tokens[row].slice(0, position));

  // Group the prefixes that still need tokens by their remaining budget: one request each.
  const byBudget = new Map<number, number[]>();
  heads.forEach((head, i) => {
    const done = head.length >= maxTokens ||
      (head.length > 0 && stops.has(head[head.length - 1]));
    if (done) return;
    const budget = maxTokens - head.length;
    byBudget.set(budget, [...(byBudget.get(budget) ?? []), i]);
  });
  const budgets = [...byBudget.keys()].sort((a, b) => a - b);
  const results = await Promise.all(budgets.map((budget, j) => {
    const members = byBudget.get(budget)!;
    const contexts = members.map((i) => [...rollout.promptTokens[prefixes[i].row], ...heads[i]]);
    return complete(context, state, contexts, {
      n: samples,
      maxTokens: budget,
      temperature,
      eosToken,
      stopTokens: [...stops].filter((id) => id !== eosToken),
      seed: (seed + j) % 2 ** 31,
    });
  }));

  const continuation = new Map<number, CompletionRows>();
  budgets.forEach((budget, j) => {
    byBudget.get(budget)!.forEach((i, m) => {
      continuation.set(i, {
        tokens: results[j].tokens.slice(m * samples, (m + 1) * samples),
        logProbs: results[j].logProbs.slice(m * samples, (m + 1) * samples),
      });
    });
  });
  const completions: number[][] = [];
  let generatedTokens = 0;
  heads.forEach((head, i) => {
    const rows = continuation.get(i);
    for (let k = 0; k < samples; k++) {
      const tail = rows?.tokens[k] ?? [];
      generatedTokens += tail.length;
      completions.push([...head, ...tail]);
    }
  });
  return {
    prefixes: prefixes.map(({ row, position }) => ({ row, position })),
    samples,
    completions,
    generatedTokens,
  };
}

/** One `/v1/completions` request, under the concurrency limit, read into rows. */
function complete(
  context: string,
  state: ServerState,
  prompts: number[][],
  params: CompletionParams,
): Promise<CompletionRows> {
  if (state.maxModelLen !== undefined) {
    const longest = Math.max(...prompts.map((p) => p.length));
    if (longest + params.maxTokens > state.maxModelLen) {
      throw new RangeError(
        `${context}: a prompt of ${longest} tokens + max_tokens ${params.maxTokens} = ${
          longest + params.maxTokens
        } exceeds the server's max_model_len ${state.maxModelLen}`,
      );
    }
  }
  const model = state.model;
  const body: Record<string, unknown> = {
    model,
    prompt: prompts,
    n: params.n,
    max_tokens: params.maxTokens,
    temperature: params.temperature,
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    logprobs: 0,
    return_tokens_as_token_ids: true,
    stop_token_ids: [params.eosToken, ...params.stopTokens],
    ignore_eos: false,
    skip_special_tokens: false,
    echo: false,
    stream: false,
  };
  if (params.topK !== undefined) body.top_k = params.topK;
  if (params.topP !== undefined) body.top_p = params.topP;
  return state.limit(async () => {
    const response = await state.client.request({
      method: "POST",
      path: "/v1/completions",
      body,
      summary:
        `model "${model}", ${prompts.length} prompts, n=${params.n}, max_tokens=${params.maxTokens}`,
    });
    return completionRows(context, response, {
      prompts: prompts.length,
      n: params.n,
      maxTokens: params.maxTokens,
      eosToken: params.eosToken,
      stopTokens: params.stopTokens,
      vocabSize: state.vocabSize,
    });
  });
}

function resolveSeed(context: string, seed: unknown, rng: Random | undefined): number {
  if (rng !== undefined) {
    if (seed !== undefined) throw new TypeError(`${context}: give either seed or rng, not both`);
    if (typeof rng?.int !== "function") {
      throw new TypeError(`${context}: rng must be a Random, got ${describe(rng)}`);
    }
    return rng.int(2 ** 31);
  }
  if (seed === undefined) throw new TypeError(`${context}: a seed or an rng is required`);
  return checkInteger(context, "seed", seed, 0);
}

function checkEosToken(context: string, eos: unknown, vocabSize: number | undefined): number {
  const id = checkInteger(context, "eosToken", eos, 0);
  if (vocabSize !== undefined && id >= vocabSize) {
    throw new RangeError(`${context}: eosToken must be in [0, ${vocabSize}), got ${id}`);
  }
  return id;
}

function checkTokenLists(
  context: string,
  name: string,
  lists: unknown,
  vocabSize: number | undefined,
): void {
  if (!Array.isArray(lists) || lists.length === 0) {
    throw new RangeError(
      `${context}: ${name} must be a non-empty array of token arrays, got ${describe(lists)}`,
    );
  }
  lists.forEach((list, i) => {
    if (!Array.isArray(list) || list.length === 0) {
      throw new RangeError(
        `${context}: ${name}[${i}] must be a non-empty token array, got ${describe(list)}`,
      );
    }
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0 || (vocabSize !== undefined && id >= vocabSize)) {
        throw new RangeError(
          `${context}: ${name}[${i}] holds ${describe(id)}, not a token id in [0, ${
            vocabSize ?? "∞"
          })`,
        );
      }
    }
  });
}

function checkPrefixes(
  context: string,
  prefixes: unknown,
  batch: number,
  lengths: readonly number[],
): void {
  if (!Array.isArray(prefixes) || prefixes.length === 0) {
    throw new RangeError(
      `${context}: prefixes must be a non-empty array, got ${describe(prefixes)}`,
    );
  }
  prefixes.forEach((p: Prefix, i: number) => {
    const row = checkInteger(context, `prefixes[${i}].row`, p?.row, 0);
    const position = checkInteger(context, `prefixes[${i}].position`, p?.position, 0);
    if (row >= batch) {
      throw new RangeError(`${context}: prefixes[${i}].row must be less than ${batch}, got ${row}`);
    }
    if (position > lengths[row]) {
      throw new RangeError(
        `${context}: prefixes[${i}].position must be at most the row's length ${
          lengths[row]
        }, got ${position}`,
      );
    }
  });
}

function checkName(context: string, name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`${context}: ${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}
