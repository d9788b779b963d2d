/**
 * Refusing, at start, an inference server whose model does not match the local one: the model
 * name, the vocabulary size, the EOS token and the context length.
 *
 * @module
 */
import { type ServerClient, ServerError } from "../remote/server_client.ts";
import { checkInteger } from "../validate.ts";

/** What the local side expects of the server's model. */
export interface ServerModelExpectation {
  /** The local vocabulary size `V`: ids `[0, V)` must be accepted, id `V` refused. */
  vocabSize: number;
  /** The local EOS token id: when the server generates it, the response must stop there. */
  eosToken: number;
  /** The local context length (prompt + response); the server's `max_model_len` must reach it. */
  maxLength?: number;
}

/** What the check learned about the server's model. */
export interface ServerModelInfo {
  /** The model ids the server lists in `/v1/models` (base model and loaded adapters). */
  served: string[];
  /** The model's `max_model_len` from `/v1/models` (vLLM lists it), when given. */
  maxModelLen?: number;
}

/**
 * Check a server's model against the local one, with three probes the OpenAI-compatible API
 * allows (each a 1- or 2-token request):
 *
 * 1. `GET /v1/models` must list `model` (else the error names the models it serves); its entry's
 *    `max_model_len` (vLLM) must be at least `maxLength` when both are known.
 * 2. **Vocabulary.** vLLM refuses a prompt holding an id above
 *    `max(tokenizer.max_token_id, model vocab − 1)` with HTTP 400 "Token id … is out of
 *    vocabulary". So a 1-token completion of the prompt `[V − 1]` must succeed and one of `[V]`
 *    must be refused with a 4xx; otherwise the server's vocabulary is smaller or larger.
 * 3. **EOS.** A completion with `logit_bias {eos: 100}`, `max_tokens` 2 and no `stop_token_ids`
 *    forces the local EOS as the first token; if it is the server's EOS (or one of its stop
 *    tokens), generation stops after it. Two tokens means the server does not stop at our EOS.
 *
 * @param context The failed operation, for error messages.
 * @param client The server.
 * @param model The model name to check.
 * @param expect Vocabulary size, EOS and context length.
 * @returns The served models and `max_model_len`.
 * @throws {Error} Naming the mismatch; {@linkcode ServerError} when the server fails.
 */
export async function checkServerModel(
  context: string,
  client: ServerClient,
  model: string,
  expect: ServerModelExpectation,
): Promise<ServerModelInfo> {
  const vocabSize = checkInteger(context, "vocabSize", expect?.vocabSize, 1);
  const eosToken = checkInteger(context, "eosToken", expect.eosToken, 0);
  if (eosToken >= vocabSize) {
    throw new RangeError(`${context}: eosToken must be in [0, ${vocabSize}), got ${eosToken}`);
  }
  const info = await listModel(context, client, model);
  if (expect.maxLength !== undefined && info.maxModelLen !== undefined) {
    const maxLength = checkInteger(context, "maxLength", expect.maxLength, 1);
    if (info.maxModelLen < maxLength) {
      throw new RangeError(
        `${context}: the server's max_model_len for "${model}" is ${info.maxModelLen}, less than the local maxLength ${maxLength}`,
      );
    }
  }
  await checkVocabulary(context, client, model, vocabSize);
  await checkEos(context, client, model, eosToken);
  return info;
}

async function listModel(
  context: string,
  client: ServerClient,
  model: string,
): Promise<ServerModelInfo> {
  const body = await client.request({ method: "GET", path: "/v1/models", summary: "list models" });
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new TypeError(`${context}: GET /v1/models returned no data array`);
  }
  const entries = data as { id?: unknown; max_model_len?: unknown }[];
  const served = entries.map((e) => String(e?.id));
  const entry = entries.find((e) => e?.id === model);
  if (entry === undefined) {
    throw new Error(
      `${context}: the server at ${client.baseUrl} does not serve model "${model}"; it serves ${
        served.map((s) => `"${s}"`).join(", ") || "no model"
      }`,
    );
  }
  const maxModelLen = typeof entry.max_model_len === "number" ? entry.max_model_len : undefined;
  return { served, maxModelLen };
}

function probe(model: string, prompt: number[], extra: Record<string, unknown>) {
  return {
    model,
    prompt: [prompt],
    n: 1,
    temperature: 1,
    seed: 0,
    logprobs: 0,
    return_tokens_as_token_ids: true,
    ...extra,
  };
}

async function checkVocabulary(
  context: string,
  client: ServerClient,
  model: string,
  vocabSize: number,
): Promise<void> {
  try {
    await client.request({
      method: "POST",
      path: "/v1/completions",
      body: probe(model, [vocabSize - 1], { max_tokens: 1 }),
      summary: `vocabulary probe, token ${vocabSize - 1}`,
    });
  } catch (error) {
    if (error instanceof ServerError && error.kind === "rejected") {
      throw new RangeError(
        `${context}: the server's vocabulary is smaller than the local vocabSize ${vocabSize}: it refused token id ${
          vocabSize - 1
        }: ${error.serverMessage ?? error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    await client.request({
      method: "POST",
      path: "/v1/completions",
      body: probe(model, [vocabSize], { max_tokens: 1 }),
      summary: `vocabulary probe, token ${vocabSize}`,
    });
  } catch (error) {
    if (error instanceof ServerError && error.kind === "rejected") return;
    throw error;
  }
  throw new RangeError(
    `${context}: the server's vocabulary is larger than the local vocabSize ${vocabSize}: it accepted token id ${vocabSize}`,
  );
}

async function checkEos(
  context: string,
  client: ServerClient,
  model: string,
  eosToken: number,
): Promise<void> {
  const body = await client.request({
    method: "POST",
    path: "/v1/completions",
    body: probe(model, [eosToken], { max_tokens: 2, logit_bias: { [eosToken]: 100 } }),
    summary: `EOS probe, token ${eosToken}`,
  });
  const choice = (body as { choices?: { logprobs?: { tokens?: unknown[] } }[] } | null)
    ?.choices?.[0];
  const tokens = choice?.logprobs?.tokens;
  if (!Array.isArray(tokens)) {
    throw new TypeError(`${context}: the EOS probe's response has no logprobs.tokens`);
  }
  const expected = `token_id:${eosToken}`;
  if (tokens.length === 1 && tokens[0] === expected) return;
  throw new Error(
    `${context}: the server does not stop at the local EOS token ${eosToken}: forced to generate it, it returned ${
      JSON.stringify(tokens)
    }; the tokenizers differ`,
  );
}
