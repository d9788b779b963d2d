// `deno task train` with a Hub model (`--model org/name`) and a Hub dataset file
// (`--data org/dataset[@rev]:path`), served by the fake Hub on 127.0.0.1. The command runs in a
// child process whose $HF_ENDPOINT and $TREPO_HUB_CACHE point at the fake Hub and a temporary cache
// (so no other test module sees them).
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { main } from "../../lib/cli/train.ts";
import { startFakeHub } from "../hub/fake_hub.ts";

const MODEL = new URL("../fixtures/hf/qwen2", import.meta.url).pathname;
const DATA = new URL("../fixtures/math_tiny.jsonl", import.meta.url).pathname;
const PARQUET = new URL("../hub/fixtures/mini_gsm8k.parquet", import.meta.url).pathname;
const TRAIN = new URL("../../lib/cli/train.ts", import.meta.url).pathname;
const SMALL = [
  "--algorithm",
  "grpo",
  "--steps",
  "1",
  "--backend",
  "cpu",
  "--prompts-per-step",
  "2",
  "--group-size",
  "2",
  "--max-tokens",
  "4",
  "--eval-every",
  "0",
  "--quiet",
];

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) files[entry.name] = await Deno.readFile(`${dir}/${entry.name}`);
  }
  return files;
}

/** Run `lib/cli/train.ts` in a child process against the fake Hub. */
async function train(args: string[], hubUrl: string, cache: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    env: { HF_ENDPOINT: hubUrl, TREPO_HUB_CACHE: cache, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    success: output.success,
    stderr: text.decode(output.stderr),
  };
}

async function stepsOf(out: string): Promise<number[]> {
  const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n");
  return lines.map((l) => JSON.parse(l)).filter((l) => l.step > 0).map((l) => l.step);
}

Deno.test("train --model org/name and --data org/dataset[@rev]:path go through the fake Hub", async () => {
  const hub = startFakeHub(); // 127.0.0.1 only
  const dir = await Deno.makeTempDir();
  try {
    await hub.seed("me/tiny-qwen2", await folderFiles(MODEL));
    const sha = await hub.seed("me/math", {
      "main/train-00000-of-00001.parquet": await Deno.readFile(PARQUET),
      "data/train.jsonl": await Deno.readFile(DATA),
    }, "dataset");
    // 1 step of GRPO on the tiny fixture pulled from the Hub (local data).
    const a = await train(
      ["--model", "me/tiny-qwen2", "--data", DATA, "--out", `${dir}/a`, ...SMALL],
      hub.url,
      `${dir}/cache`,
    );
    assert(a.success, a.stderr);
    assertEquals(await stepsOf(`${dir}/a`), [1]);
    assert(hub.requests.some((r) => r.path.includes("/me/tiny-qwen2/")), "the model was pulled");
    // Local model, Hub data: GSM8K's layout (Parquet), and a JSONL at a pinned revision.
    for (
      const [name, data] of [
        ["b", "me/math:main/train-00000-of-00001.parquet"],
        ["c", `me/math@${sha}:data/train.jsonl`],
      ]
    ) {
      const run = await train(
        ["--model", MODEL, "--data", data, "--out", `${dir}/${name}`, ...SMALL],
        hub.url,
        `${dir}/cache`,
      );
      assert(run.success, run.stderr);
      assertEquals(await stepsOf(`${dir}/${name}`), [1]);
    }
    assert(hub.requests.some((r) => r.path.includes(`/datasets/me/math/resolve/${sha}/`)));
    // A file the dataset does not have: the error names it.
    const missing = await train(
      ["--model", MODEL, "--data", "me/math:main/test.parquet", "--out", `${dir}/d`, ...SMALL],
      hub.url,
      `${dir}/cache`,
    );
    assert(!missing.success);
    assertStringIncludes(missing.stderr, 'file "main/test.parquet" not found');
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --data: a malformed Hub file spec gets a clear error before any download", async () => {
  for (const spec of ["gsm8k:train.parquet", "openai/gsm8k:", "openai/gsm8k@:x.jsonl"]) {
    await assertRejects(
      () => main(["--model", MODEL, "--data", spec, ...SMALL]),
      TypeError,
      `Cannot read --data ${spec}: no such file, and not a Hub dataset file (expected "org/dataset[@revision]:path/in/repo"`,
    );
  }
});
