/**
 * Hand-built fakes for the score tests: a tiny character tokenizer and a rollout from token rows.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rollout } from "../../lib/sample/rollout.ts";
import type { Tokenizer } from "../../lib/tasks/task.ts";

/** Token 0 is EOS; tokens 1… are the characters of `chars`. `encode` throws on other characters. */
export function fakeTokenizer(chars: string): Tokenizer {
  const vocab = ["<eos>", ...chars];
  return {
    vocab,
    vocabSize: vocab.length,
    eos: 0,
    encode(text: string): number[] {
      return Array.from(text, (c) => {
        const id = vocab.indexOf(c, 1);
        if (id < 0) throw new RangeError(`fake tokenizer: unknown character ${JSON.stringify(c)}`);
        return id;
      });
    },
    decode(tokens: readonly number[]): string {
      let text = "";
      for (const id of tokens) {
        if (id === 0) break;
        text += vocab[id] ?? "\uFFFD";
      }
      return text;
    },
  };
}

/**
 * A rollout from prompts and full response rows (padded with EOS = 0 to a common length `T`).
 * `lengths` are derived as "up to and including the first EOS, else T"; the mask follows them.
 */
export function fakeRollout(
  promptTokens: number[][],
  rows: number[][],
  groupSize = 1,
): Rollout {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const padded = rows.map((r) => [...r, ...new Array<number>(columns - r.length).fill(0)]);
  const lengths = padded.map((r) => {
    const end = r.indexOf(0);
    return end < 0 ? columns : end + 1;
  });
  const mask = lengths.map((length) =>
    Array.from({ length: columns }, (_, t) => (t < length ? 1 : 0))
  );
  return {
    promptTokens,
    tokens: tf.tensor2d(padded.flat(), [rows.length, columns], "int32"),
    mask: tf.tensor2d(mask.flat(), [rows.length, columns]),
    logProbs: tf.zeros([rows.length, columns]) as tf.Tensor2D,
    lengths,
    groupSize,
  };
}
