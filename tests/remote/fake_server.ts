/**
 * A fake OpenAI-compatible inference server on 127.0.0.1 for tests. It generates with trepo's own
 * local policy (`sample`), so its token ids and log-probs are real: a request with prompts `P`,
 * `n`, `max_tokens`, `temperature` and `seed` is answered with
 * `sample(policy, P, { groupSize: n, maxTokens, temperature, seed, eosToken })`.
 *
 * Endpoints: `GET /v1/models`, `POST /v1/completions`, `POST /v1/load_lora_adapter`,
 * `POST /v1/unload_lora_adapter`, `POST /classify` (the reward model). Errors use vLLM's
 * `{"error": {"message", "type", "code"}}` body. Switches for latency, failures, timeouts, cut-off
 * bodies, missing log-probs, a missing choice, an API key and a limit on `n`; every request is
 * recorded.
 *
 * @module
 */
import type { Sampler } from "../../lib/sample/sampler.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { sample } from "../../lib/sample/sample.ts";
import type { Policy } from "../../lib/policy/transformer.ts";

/** Options of {@linkcode startFakeServer}. */
export interface FakeServerOptions {
  /** The policy that generates (the base model). */
  policy: Policy;
  /** The server's EOS token: generation stops there. */
  eosToken: number;
  /** The served model name. */
  model: string;
  /** The context length listed in `/v1/models` and enforced (default `policy.config.maxLength`). */
  maxModelLen?: number;
  /** Token ids ≥ this are refused as out of vocabulary (default `policy.config.vocabSize`). */
  vocabSize?: number;
  /** Loads a LoRA adapter onto the base policy (the server keeps the result under its name). */
  loadAdapter?: (base: Policy, path: string) => Promise<Policy>;
  /** The reward model behind `/classify`: a score for a text. */
  reward?: (text: string) => number;
  /** Required Bearer token, when set. */
  apiKey?: string;
}

/** One recorded request. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** URL path. */
  path: string;
  /** Parsed JSON body (undefined for GET). */
  body: unknown;
}

/** Switches of the fake server; change them between requests. */
export interface FakeServerSwitches {
  /** Delay before every answer, in milliseconds. */
  latencyMs: number;
  /** Fail this many of the next requests with `failStatus`. */
  failNext: number;
  /** The status of those failures (429, 500, 503, …). */
  failStatus: number;
  /** A `Retry-After` header (seconds) on those failures, when set. */
  retryAfter?: string;
  /** Never answer the next this many requests (until the client gives up). */
  hangNext: number;
  /** Cut the next completions body off in the middle of the JSON. */
  cutBody: boolean;
  /** Answer completions without `logprobs`. */
  dropLogprobs: boolean;
  /** Answer completions with one choice too few. */
  dropChoice: boolean;
  /** Refuse `n` above this with HTTP 400, when set. */
  maxN?: number;
}

/** A running fake server. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The switches. */
  readonly switches: FakeServerSwitches;
  /** The most requests handled at once so far. */
  readonly maxInFlight: number;
  /** Stop the server and wait for it (pending delays are cancelled). */
  close(): Promise<void>;
}

/** Start a fake server on 127.0.0.1 (a free port). */
export function startFakeServer(options: FakeServerOptions): FakeServer {
  const { policy, eosToken, model } = options;
  const maxModelLen = options.maxModelLen ?? policy.config.maxLength;
  const vocabSize = options.vocabSize ?? policy.config.vocabSize;
  const adapters = new Map<string, { path: string; policy: Policy }>();
  const requests: RecordedRequest[] = [];
  const switches: FakeServerSwitches = {
    latencyMs: 0,
    failNext: 0,
    failStatus: 503,
    hangNext: 0,
    cutBody: false,
    dropLogprobs: false,
    dropChoice: false,
  };
  const closing = new AbortController();
  let inFlight = 0;
  let maxInFlight = 0;

  async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const body = request.method === "POST"
      ? await request.json().catch(() => undefined)
      : undefined;
    requests.push({ method: request.method, path, body });
    const cancel = closing.signal;
    if (switches.hangNext > 0) {
      switches.hangNext--;
      await sleep(3_600_000, cancel);
      return error(503, "cancelled");
    }
    if (switches.latencyMs > 0) await sleep(switches.latencyMs, cancel);
    if (options.apiKey !== undefined) {
      if (request.headers.get("authorization") !== `Bearer ${options.apiKey}`) {
        return error(401, "Unauthorized");
      }
    }
    if (switches.failNext > 0) {
      switches.failNext--;
      const headers: Record<string, string> = {};
      if (switches.retryAfter !== undefined) headers["retry-after"] = switches.retryAfter;
      return error(switches.failStatus, "The server is overloaded, try again", headers);
    }
    if (request.method === "GET" && path === "/v1/models") return json(listModels());
    if (request.method === "POST" && path === "/v1/completions") return await completions(body);
    if (request.method === "POST" && path === "/v1/load_lora_adapter") return await load(body);
    if (request.method === "POST" && path === "/v1/unload_lora_adapter") return unload(body);
    if (request.method === "POST" && path === "/classify") return classify(body);
    return error(404, `Not found: ${request.method} ${path}`);
  }

  function listModels() {
    const entry = (id: string, root: string, parent: string | null) => ({
      id,
      object: "model",
      owned_by: "trepo-fake",
      root,
      parent,
      max_model_len: maxModelLen,
    });
    return {
      object: "list",
      data: [
        entry(model, model, null),
        ...[...adapters].map(([name, a]) => entry(name, a.path, model)),
      ],
    };
  }

  function policyFor(name: unknown): Policy | undefined {
    if (name === model) return policy;
    return typeof name === "string" ? adapters.get(name)?.policy : undefined;
  }

  async function completions(raw: unknown): Promise<Response> {
    const body = (raw ?? {}) as Record<string, unknown>;
    const generator = policyFor(body.model);
    if (generator === undefined) {
      return error(404, `The model \`${String(body.model)}\` does not exist.`);
    }
    const prompts = body.prompt as number[][];
    const n = (body.n as number | undefined) ?? 1;
    const maxTokens = (body.max_tokens as number | undefined) ?? 16;
    if (!Array.isArray(prompts) || !prompts.every(Array.isArray)) {
      return error(400, "prompt must be a list of token-id lists");
    }
    if (switches.maxN !== undefined && n > switches.maxN) {
      return error(400, `n must be at most ${switches.maxN}, got ${n}`);
    }
    for (const p of prompts) {
      const bad = p.find((id) => id < 0 || id >= vocabSize);
      if (bad !== undefined) return error(400, `Token id ${bad} is out of vocabulary`);
      if (p.length + maxTokens > maxModelLen) {
        return error(
          400,
          `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${
            p.length + maxTokens
          } tokens`,
        );
      }
    }
    const forced = forcedToken(body.logit_bias);
    const rows = forced === undefined
      ? await generate(generator, prompts, n, maxTokens, body)
      : forcedRows(prompts.length * n, forced, maxTokens);
    let choices = rows.tokens.map((tokens, index) => ({
      index,
      text: "",
      logprobs: switches.dropLogprobs ? null : {
        tokens: tokens.map((id) => `token_id:${id}`),
        token_logprobs: rows.logProbs[index],
        top_logprobs: null,
        text_offset: tokens.map(() => 0),
      },
      finish_reason: [eosToken, ...stopIds(body)].includes(tokens[tokens.length - 1])
        ? "stop"
        : "length",
      stop_reason: null,
    }));
    if (switches.dropChoice) choices = choices.slice(0, -1);
    const text = JSON.stringify({
      id: `cmpl-${requests.length}`,
      object: "text_completion",
      model: body.model,
      choices,
    });
    if (switches.cutBody) {
      switches.cutBody = false;
      return new Response(text.slice(0, Math.floor(text.length / 2)), {
        headers: { "content-type": "application/json" },
      });
    }
    return new Response(text, { headers: { "content-type": "application/json" } });
  }

  async function generate(
    generator: Policy,
    prompts: number[][],
    n: number,
    maxTokens: number,
    body: Record<string, unknown>,
  ): Promise<{ tokens: number[][]; logProbs: number[][] }> {
    const rollout = await sample(generator, prompts, {
      groupSize: n,
      maxTokens,
      temperature: (body.temperature as number | undefined) ?? 1,
      seed: (body.seed as number | undefined) ?? 0,
      eosToken,
      // As vLLM: the model's EOS ends a response, and so does any of `stop_token_ids`.
      stopTokens: stopIds(body).filter((id) => id !== eosToken),
    });
    const tokens = await rollout.tokens.array();
    const logProbs = await rollout.logProbs.array();
    disposeRollout(rollout);
    return {
      tokens: tokens.map((row, b) => row.slice(0, rollout.lengths[b])),
      logProbs: logProbs.map((row, b) => row.slice(0, rollout.lengths[b])),
    };
  }

  /** The request's `stop_token_ids` (none when absent). */
  function stopIds(body: Record<string, unknown>): number[] {
    const ids = body.stop_token_ids;
    return Array.isArray(ids) ? ids.filter((id): id is number => Number.isInteger(id)) : [];
  }

  /** The forced token of a `logit_bias` of +100 (the EOS probe), generated until EOS. */
  function forcedRows(rows: number, token: number, maxTokens: number) {
    const one: number[] = [];
    while (one.length < maxTokens) {
      one.push(token);
      if (token === eosToken) break;
    }
    return {
      tokens: Array.from({ length: rows }, () => [...one]),
      logProbs: Array.from({ length: rows }, () => one.map(() => 0)),
    };
  }

  async function load(raw: unknown): Promise<Response> {
    const { lora_name: name, lora_path: path } = (raw ?? {}) as Record<string, string>;
    if (options.loadAdapter === undefined) return error(400, "LoRA is not enabled");
    if (!name || !path) return error(400, "Both 'lora_name' and 'lora_path' must be provided.");
    if (adapters.has(name)) {
      return error(400, `The lora adapter '${name}' has already been loaded.`);
    }
    adapters.set(name, { path, policy: await options.loadAdapter(policy, path) });
    return new Response(`Success: LoRA adapter '${name}' added successfully.`);
  }

  function unload(raw: unknown): Response {
    const { lora_name: name } = (raw ?? {}) as Record<string, string>;
    if (!adapters.delete(name)) {
      return error(404, `The lora adapter '${name}' cannot be found.`);
    }
    return new Response(`Success: LoRA adapter '${name}' removed successfully.`);
  }

  function classify(raw: unknown): Response {
    const body = (raw ?? {}) as { model?: unknown; input?: unknown };
    if (options.reward === undefined) return error(400, "This model does not support classify");
    if (body.model !== model) {
      return error(404, `The model \`${String(body.model)}\` does not exist.`);
    }
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    if (!Array.isArray(inputs)) return error(400, "input must be a string or a list of strings");
    const reward = options.reward;
    return json({
      object: "list",
      model,
      data: inputs.map((text, index) => ({
        index,
        label: "LABEL_0",
        probs: [reward(String(text))],
        num_classes: 1,
      })),
    });
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await handle(request);
      } finally {
        inFlight--;
      }
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    switches,
    get maxInFlight() {
      return maxInFlight;
    },
    async close() {
      closing.abort();
      await server.shutdown();
    },
  };
}

function forcedToken(bias: unknown): number | undefined {
  if (typeof bias !== "object" || bias === null) return undefined;
  const entry = Object.entries(bias).find(([, v]) => typeof v === "number" && v >= 100);
  return entry === undefined ? undefined : Number(entry[0]);
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });
}

function error(status: number, message: string, headers: Record<string, string> = {}): Response {
  const type = status === 404
    ? "NotFoundError"
    : status >= 500
    ? "InternalServerError"
    : "BadRequestError";
  return new Response(JSON.stringify({ error: { message, type, param: null, code: status } }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/**
 * A sampler without its LoRA hot-swap (`syncWeights`), for a fake server that generates with the
 * very policy object being trained: its weights are always current, so there is nothing to sync.
 */
export function withoutSync(sampler: Sampler): Sampler {
  return {
    name: sampler.name,
    remote: sampler.remote,
    sample: sampler.sample,
    greedy: sampler.greedy,
    continueFrom: sampler.continueFrom,
    check: sampler.check,
  };
}

/** The EOS id and model name of {@linkcode withTinyServer}'s server. */
export const TINY_EOS = 0;
/** The model name {@linkcode withTinyServer}'s server serves. */
export const TINY_MODEL = "tiny/test-model";

/**
 * Run `fn` against a fake server that generates with a fresh tiny policy (vocabulary 8, d 16,
 * 1 layer, seed 0), then close the server and free the policy.
 */
export async function withTinyServer(
  fn: (server: FakeServer, policy: Policy) => Promise<void>,
  extra: Partial<FakeServerOptions> = {},
): Promise<void> {
  const policy = createPolicy({
    vocabSize: 8,
    dModel: 16,
    layers: 1,
    heads: 2,
    maxLength: 16,
    seed: 0,
  });
  const server = startFakeServer({ policy, eosToken: TINY_EOS, model: TINY_MODEL, ...extra });
  try {
    await fn(server, policy);
  } finally {
    await server.close();
    policy.dispose();
  }
}
