/**
 * `lib/cli/train.ts` refuses runs that cannot fit before it allocates them: a LoRA rank above a
 * target's `min(in, out)` before the model is loaded, a policy too wide for the heap before it is
 * created, each with the numbers.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";

const CLI = new URL("../../lib/cli/train.ts", import.meta.url).pathname;
const MODEL = new URL("../fixtures/hf/qwen2", import.meta.url).pathname;
const DATA = new URL("../fixtures/math_tiny.jsonl", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("cli: --lora-rank above min(in, out) is refused before loading, with the sizes", async () => {
  const out = await Deno.makeTempDir();
  const r = await run([
    "--model",
    MODEL,
    "--data",
    DATA,
    "--lora-rank",
    "100000",
    "--steps",
    "1",
    "--out",
    `${out}/run`,
  ]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "rank 100000 exceeds min(in, out) = 48");
  assertStringIncludes(r.stderr, "the largest rank every target allows is 16");
});

Deno.test("cli: --d-model 100000 is refused by the memory plan, not by the allocator", async () => {
  const out = await Deno.makeTempDir();
  const r = await run([
    "--d-model",
    "100000",
    "--sft-steps",
    "0",
    "--steps",
    "1",
    "--out",
    `${out}/run`,
  ]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "Cannot start the run: it needs");
  assertStringIncludes(r.stderr, "but the wasm heap (less 10 % for fragmentation) holds 3.6 GiB");
});

Deno.test("cli: a forced TREPO_MEMORY_LIMIT refuses a pretrained run before its reference copy", async () => {
  const out = await Deno.makeTempDir();
  const r = await run(
    ["--model", MODEL, "--data", DATA, "--steps", "1", "--out", `${out}/run`],
    { TREPO_MEMORY_LIMIT: "1MiB" },
  );
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "but the wasm heap (limit forced) holds 1 MiB");
});
