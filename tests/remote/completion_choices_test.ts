import { completionRows } from "../../lib/sample/completion_choices.ts";
import { assertEquals, assertThrows } from "@std/assert";

const expect = { prompts: 1, n: 2, maxTokens: 3, eosToken: 0, vocabSize: 8 };

function choice(index: number, ids: number[], extra: Record<string, unknown> = {}) {
  return {
    index,
    finish_reason: ids.at(-1) === 0 ? "stop" : "length",
    logprobs: { tokens: ids.map((id) => `token_id:${id}`), token_logprobs: ids.map(() => -0.5) },
    ...extra,
  };
}

Deno.test("completionRows orders rows by choice index", () => {
  const rows = completionRows(
    "ctx",
    { choices: [choice(1, [5, 6, 7]), choice(0, [3, 0])] },
    expect,
  );
  assertEquals(rows.tokens, [[3, 0], [5, 6, 7]]);
  assertEquals(rows.logProbs, [[-0.5, -0.5], [-0.5, -0.5, -0.5]]);
});

Deno.test("completionRows refuses malformed and truncated choices", () => {
  const cases: [unknown, string][] = [
    [{}, "no choices array"],
    [{ choices: [choice(0, [1, 0])] }, "= 2 choices, got 1"],
    [{ choices: [choice(0, [1, 0]), choice(0, [2, 0])] }, "appears twice"],
    [{ choices: [choice(0, [1, 0]), choice(5, [2, 0])] }, "must be an integer in [0, 2)"],
    [{ choices: [choice(0, [1, 0]), choice(1, [2])] }, "truncated: 1 tokens without EOS"],
    [{ choices: [choice(0, [1, 0]), choice(1, [0, 2, 3])] }, "EOS 0 at token 0, before the end"],
    [{ choices: [choice(0, [1, 0]), choice(1, [1, 2, 3, 4])] }, "more than max_tokens 3"],
    [{ choices: [choice(0, [1, 0]), choice(1, [9, 0])] }, "outside the vocabulary [0, 8)"],
    [{ choices: [choice(0, [1, 0]), choice(1, [])] }, "the response is empty"],
    [
      { choices: [choice(0, [1, 0]), choice(1, [2, 0], { finish_reason: "length" })] },
      'finish_reason "length" after 2 tokens',
    ],
    [
      { choices: [choice(0, [1, 0]), choice(1, [2, 0], { token_ids: [2, 1] })] },
      "token_ids disagree",
    ],
    [
      {
        choices: [
          choice(0, [1, 0]),
          { index: 1, logprobs: { tokens: ["a", "<eos>"], token_logprobs: [-1, -1] } },
        ],
      },
      'expected "token_id:<id>"',
    ],
    [
      {
        choices: [
          choice(0, [1, 0]),
          {
            index: 1,
            logprobs: { tokens: ["token_id:1", "token_id:0"], token_logprobs: [-1, null] },
          },
        ],
      },
      "finite number ≤ 0",
    ],
    [{ choices: [choice(0, [1, 0]), { index: 1, logprobs: null }] }, "no logprobs"],
  ];
  for (const [body, message] of cases) {
    assertThrows(() => completionRows("ctx", body, expect), TypeError, message);
  }
});
