/**
 * A reward model served over HTTP as a {@linkcode RewardFn}: vLLM's (and SGLang's) `/classify`.
 *
 * @module
 */
import { concurrencyLimit } from "../remote/concurrency.ts";
import { serverClient } from "../remote/server_client.ts";
import { checkInteger, describe } from "../validate.ts";
import type { RewardFn } from "./score.ts";

/** Options of {@linkcode remoteReward}. */
export interface RemoteRewardOptions {
  /** The server's root URL (requests go to `/classify`). */
  baseUrl: string;
  /** The served reward model's name. */
  model: string;
  /** API key, sent as a Bearer token; never in error messages. */
  apiKey?: string;
  /** Texts per request at most (default 32). */
  batchSize?: number;
  /** Requests in flight at once (default 2). */
  concurrency?: number;
  /** Per-request timeout in milliseconds (default 120 000). */
  timeoutMs?: number;
  /** Retries on network errors, timeouts, 429 and 5xx (default 3). */
  retries?: number;
  /** First backoff delay in milliseconds (default 500). */
  backoffMs?: number;
  /** Which entry of `probs` is the reward (default 0: a one-label reward head). */
  label?: number;
  /** The text the model scores (default `prompt + completion`, e.g. a chat-formatted pair). */
  format?: (prompt: string, completion: string) => string;
  /** The request path (default `/classify`; SGLang also serves `/v1/classify`). */
  path?: string;
}

/**
 * A response-level reward `RM(W)` computed by a reward model on a server.
 *
 * The endpoint is vLLM's classification API, `POST /classify {model, input: [texts]}` →
 * `{data: [{index, probs: [...]}]}`: reward models are sequence-classification models
 * (`*ForSequenceClassification`, one label), which vLLM serves with the `classify` task, and
 * SGLang serves the same API. The reward is `probs[label]`. vLLM applies the head's activation
 * (sigmoid/softmax) to what it returns, so the reward is a monotone transform of the raw score.
 *
 * Calls made in the same tick (`score` calls the function for every row before awaiting any) are
 * collected and sent as one request per `batchSize` texts, at most `concurrency` at once. Faults
 * as the sampler: retries on network errors, timeouts, 429 and 5xx; a malformed answer (wrong
 * count, missing or non-finite `probs[label]`) rejects every call of the batch.
 *
 * @see He et al., arXiv 2506.02553 — the response-level reward RM(W).
 * Used by every algorithm through `score`.
 *
 * @param options Server, model, batching and concurrency.
 * @returns The reward function.
 * @throws {TypeError} For a malformed base URL, model or option.
 *
 * @example
 * ```ts
 * import { remoteReward } from "./remote_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const rm = remoteReward({ baseUrl: "http://127.0.0.1:8001", model: "Skywork/Skywork-Reward-V2" });
 * assertEquals(typeof rm, "function");
 * ```
 */
export function remoteReward(options: RemoteRewardOptions): RewardFn {
  const context = "Cannot create a remote reward";
  const client = serverClient(options);
  if (typeof options.model !== "string" || options.model.length === 0) {
    throw new TypeError(
      `${context}: model must be a non-empty string, got ${describe(options.model)}`,
    );
  }
  const model = options.model;
  const batchSize = checkInteger(context, "batchSize", options.batchSize ?? 32, 1);
  const limit = concurrencyLimit(checkInteger(context, "concurrency", options.concurrency ?? 2, 1));
  const label = checkInteger(context, "label", options.label ?? 0, 0);
  const format = options.format ?? ((prompt: string, completion: string) => prompt + completion);
  const path = options.path ?? "/classify";

  interface Pending {
    text: string;
    resolve: (value: number) => void;
    reject: (error: unknown) => void;
  }
  let queue: Pending[] = [];

  async function send(batch: Pending[]): Promise<void> {
    try {
      const body = await limit(() =>
        client.request({
          method: "POST",
          path,
          body: { model, input: batch.map((p) => p.text) },
          summary: `model "${model}", ${batch.length} texts`,
        })
      );
      const rewards = readRewards(`Cannot score with ${client.baseUrl}`, body, batch.length, label);
      batch.forEach((p, i) => p.resolve(rewards[i]));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  function flush(): void {
    const all = queue;
    queue = [];
    for (let i = 0; i < all.length; i += batchSize) send(all.slice(i, i + batchSize));
  }

  return (prompt: string, completion: string) =>
    new Promise<number>((resolve, reject) => {
      if (queue.length === 0) setTimeout(flush, 0);
      queue.push({ text: format(prompt, completion), resolve, reject });
    });
}

/** Read `probs[label]` of each entry of a `/classify` response, in `index` order. */
function readRewards(context: string, body: unknown, count: number, label: number): number[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length !== count) {
    throw new TypeError(
      `${context}: the response must hold ${count} results, got ${describe(data)}`,
    );
  }
  const rewards = new Array<number>(count).fill(NaN);
  data.forEach((entry: { index?: unknown; probs?: unknown } | null, k: number) => {
    const index = entry?.index ?? k;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) {
      throw new TypeError(
        `${context}: data[${k}].index must be in [0, ${count}), got ${describe(index)}`,
      );
    }
    const value = Array.isArray(entry?.probs) ? entry.probs[label] : undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(
        `${context}: data[${k}].probs[${label}] must be a finite number, got ${describe(value)}`,
      );
    }
    rewards[index] = value;
  });
  if (rewards.some((r) => Number.isNaN(r))) {
    throw new TypeError(`${context}: the response repeats an index`);
  }
  return rewards;
}
