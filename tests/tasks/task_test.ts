import { charTokenizer } from "../../lib/tasks/task.ts";
import { assertEquals, assertThrows } from "@std/assert";

Deno.test("charTokenizer: ids are 1-based after EOS and encode/decode round trip", () => {
  const tok = charTokenizer("ab=");
  assertEquals(tok.vocab, ["<eos>", "a", "b", "="]);
  assertEquals(tok.vocabSize, 4);
  assertEquals(tok.eos, 0);
  assertEquals(tok.encode("ba=a"), [2, 1, 3, 1]);
  assertEquals(tok.decode([2, 1, 3, 1]), "ba=a");
  for (const text of ["", "a", "abba==", "=b=a"]) assertEquals(tok.decode(tok.encode(text)), text);
});

Deno.test("charTokenizer: decode stops at the first EOS and never throws", () => {
  const tok = charTokenizer(["x", "y"], { eosToken: "</s>" });
  assertEquals(tok.vocab[0], "</s>");
  assertEquals(tok.decode([1, 2, 0, 1, 1]), "xy");
  assertEquals(tok.decode([0, 1]), "");
  assertEquals(tok.decode([]), "");
  assertEquals(tok.decode([1, 3, -1, 1.5, NaN, 2]), "x\uFFFD\uFFFD\uFFFD\uFFFDy");
  // deno-lint-ignore no-explicit-any
  assertEquals(tok.decode(null as any), "");
});

Deno.test("charTokenizer: encode rejects characters outside the vocabulary", () => {
  const tok = charTokenizer("0123456789");
  assertThrows(
    () => tok.encode("12a"),
    RangeError,
    `character "a" at index 2 is not in the vocabulary`,
  );
  // deno-lint-ignore no-explicit-any
  assertThrows(() => tok.encode(12 as any), TypeError, "text must be a string, got number");
});

Deno.test("charTokenizer: rejects bad vocabularies", () => {
  assertThrows(() => charTokenizer(""), RangeError, "at least one character");
  assertThrows(
    () => charTokenizer("aba"),
    RangeError,
    `characters must be distinct, got "a" twice`,
  );
  assertThrows(
    () => charTokenizer(["a", "bc"]),
    TypeError,
    `single character, got "bc" at index 1`,
  );
});
