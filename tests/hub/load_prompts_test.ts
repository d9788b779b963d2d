import { assertEquals, assertRejects } from "@std/assert";
import { HubError } from "../../lib/hub/hub_error.ts";
import { loadPrompts, parsePrompts } from "../../lib/hub/load_prompts.ts";
import { type FakeHub, startFakeHub } from "./fake_hub.ts";

/**
 * 911 bytes, written once with pyarrow 25 (snappy, dictionary encoding, no Arrow schema):
 *   pa.table({"question": [...], "answer": [...], "id": pa.array([1, 2, 3], pa.int32())})
 *   pq.write_table(t, "mini_gsm8k.parquet", compression="snappy", store_schema=False)
 * with exactly the three rows below.
 */
const PARQUET = await Deno.readFile(new URL("./fixtures/mini_gsm8k.parquet", import.meta.url));
const PARQUET_ROWS = [
  { prompt: "What is 2 + 3?", answer: "2 + 3 = 5\n#### 5" },
  { prompt: "Tom has 4 apples and eats 1. How many are left?", answer: "4 - 1 = 3\n#### 3" },
  { prompt: "What is 6 * 7?", answer: "6 * 7 = 42\n#### 42" },
];

const JSONL = [
  '{"question":"1+1=","answer":"2","source":"a"}',
  "",
  '{"question":"9+9=","answer":18,"source":"b"}',
  "",
].join("\n");

async function withHub(fn: (hub: FakeHub) => Promise<void>): Promise<void> {
  const hub = startFakeHub();
  try {
    await fn(hub);
  } finally {
    await hub.close();
  }
}

Deno.test("loadPrompts reads a JSONL file by path (numbers become text)", async () => {
  await withHub(async (hub) => {
    await hub.seed("me/jsonl", { "data/train.jsonl": JSONL }, "dataset");
    const examples = await loadPrompts("me/jsonl", { path: "data/train.jsonl", hubUrl: hub.url });
    assertEquals(examples, [{ prompt: "1+1=", answer: "2" }, { prompt: "9+9=", answer: "18" }]);
    // it read the dataset repo, not a model repo
    assertEquals(hub.count("GET /datasets/me/jsonl/resolve/main/data/train.jsonl"), 2);
  });
});

Deno.test("loadPrompts reads a Parquet file found by split, with custom field names", async () => {
  await withHub(async (hub) => {
    await hub.seed("me/gsm", {
      "main/train-00000-of-00001.parquet": PARQUET,
      "main/test-00000-of-00001.jsonl": '{"q":"x","a":"y"}\n',
      "README.md": "# data",
    }, "dataset");
    assertEquals(await loadPrompts("me/gsm", { hubUrl: hub.url }), PARQUET_ROWS);
    assertEquals(
      await loadPrompts("me/gsm", {
        hubUrl: hub.url,
        split: "test",
        promptField: "q",
        answerField: "a",
      }),
      [{ prompt: "x", answer: "y" }],
    );
  });
});

Deno.test("loadPrompts concatenates the shards of a split in path order", async () => {
  await withHub(async (hub) => {
    await hub.seed("me/shards", {
      "train/0001.jsonl": '{"question":"b","answer":"2"}\n',
      "train/0000.jsonl": '{"question":"a","answer":"1"}\n',
      "validation.jsonl": '{"question":"v","answer":"0"}\n',
    }, "dataset");
    assertEquals(await loadPrompts("me/shards", { hubUrl: hub.url }), [
      { prompt: "a", answer: "1" },
      { prompt: "b", answer: "2" },
    ]);
  });
});

Deno.test("loadPrompts pins a revision", async () => {
  await withHub(async (hub) => {
    const first = await hub.seed(
      "me/rev",
      { "train.jsonl": '{"question":"old","answer":"1"}' },
      "dataset",
    );
    await hub.seed("me/rev", { "train.jsonl": '{"question":"new","answer":"2"}' }, "dataset");
    assertEquals(await loadPrompts("me/rev", { hubUrl: hub.url }), [{
      prompt: "new",
      answer: "2",
    }]);
    assertEquals(
      await loadPrompts("me/rev", { hubUrl: hub.url, revision: first }),
      [{ prompt: "old", answer: "1" }],
    );
  });
});

Deno.test("loadPrompts names the missing field and the available ones", async () => {
  await withHub(async (hub) => {
    await hub.seed("me/fields", { "train.jsonl": JSONL, "train.parquet": PARQUET }, "dataset");
    await assertRejects(
      () =>
        loadPrompts("me/fields", { path: "train.jsonl", hubUrl: hub.url, promptField: "prompt" }),
      TypeError,
      'Cannot load prompts from dataset me/fields (train.jsonl): field "prompt" is missing in row 0; available fields: question, answer, source',
    );
    await assertRejects(
      () =>
        loadPrompts("me/fields", {
          path: "train.parquet",
          hubUrl: hub.url,
          answerField: "solution",
        }),
      TypeError,
      'Cannot load prompts from dataset me/fields (train.parquet): field "solution" is missing; available fields: question, answer, id',
    );
  });
});

Deno.test("loadPrompts rejects an unknown extension before any request", async () => {
  await withHub(async (hub) => {
    await assertRejects(
      () => loadPrompts("me/csv", { path: "data/train.csv", hubUrl: hub.url }),
      RangeError,
      'Cannot load prompts from dataset me/csv: unsupported file extension ".csv"; use .jsonl, .ndjson, .json (optionally .gz) or .parquet',
    );
    assertEquals(hub.requests.length, 0);
  });
});

Deno.test("loadPrompts: missing split, missing file, missing repo and 500 give clear HubErrors", async () => {
  await withHub(async (hub) => {
    await hub.seed("me/ds", { "data/test.jsonl": JSONL }, "dataset");
    await assertRejects(
      () => loadPrompts("me/ds", { hubUrl: hub.url }),
      HubError,
      'Cannot load prompts from dataset me/ds: no data file of split "train" at revision "main"; data files: data/test.jsonl; pass path or another split',
    );
    await assertRejects(
      () => loadPrompts("me/ds", { hubUrl: hub.url, path: "nope.jsonl" }),
      HubError,
      'Cannot load prompts from dataset me/ds: file "nope.jsonl" not found (HTTP 404); check the path and revision "main"',
    );
    await assertRejects(
      () => loadPrompts("me/none", { hubUrl: hub.url }),
      HubError,
      'Cannot load prompts from dataset me/none: not found (HTTP 404: Repository not found); check the repo name "me/none" and revision "main" exist',
    );
    hub.failNext("/resolve/", 503);
    await assertRejects(
      () => loadPrompts("me/ds", { hubUrl: hub.url, split: "test" }),
      HubError,
      "Cannot load prompts from dataset me/ds (data/test.jsonl): the Hub returned 503; retry later",
    );
  });
});

Deno.test("parsePrompts reads JSON arrays, gzipped JSONL and reports bad rows", async () => {
  const enc = new TextEncoder();
  assertEquals(
    await parsePrompts(enc.encode('[{"question":"a","answer":"b"}]'), "x.json"),
    [{ prompt: "a", answer: "b" }],
  );
  const gz = new Uint8Array(
    await new Response(
      new Blob([enc.encode(JSONL)]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  assertEquals(await parsePrompts(gz, "train.jsonl.gz"), [
    { prompt: "1+1=", answer: "2" },
    { prompt: "9+9=", answer: "18" },
  ]);
  assertEquals(await parsePrompts(PARQUET, "local.parquet"), PARQUET_ROWS);
  await assertRejects(
    () => parsePrompts(enc.encode('{"question":"a","answer":"b"}\n{oops'), "t.jsonl"),
    TypeError,
    "Cannot load prompts from t.jsonl: line 2 is not valid JSON",
  );
  await assertRejects(
    () => parsePrompts(enc.encode("[1]"), "t.json"),
    TypeError,
    "Cannot load prompts from t.json: row 0 is not an object, got 1",
  );
  await assertRejects(
    () => parsePrompts(enc.encode('{"question":{"x":1},"answer":"b"}'), "t.jsonl"),
    TypeError,
    'Cannot load prompts from t.jsonl: field "question" of row 0 must be text, got {"x":1}',
  );
  await assertRejects(
    () => parsePrompts(enc.encode("not parquet"), "t.parquet"),
    TypeError,
    "Cannot load prompts from t.parquet: not a valid Parquet file",
  );
  await assertRejects(
    () => parsePrompts(enc.encode(""), "README"),
    RangeError,
    'Cannot load prompts from README: unsupported file extension "(none)"',
  );
});

/**
 * 458 bytes, written once with pyarrow 25 (no compression, no Arrow schema): two binary columns,
 * `question` [b"What is 1+1?", b"What is 2\xff+2?"] and `answer` [b"2", b"4"]; the second
 * question holds a byte (0xff) that is never valid UTF-8.
 */
const BAD_UTF8_PARQUET = await Deno.readFile(
  new URL("./fixtures/bad_utf8.parquet", import.meta.url),
);

Deno.test("parsePrompts refuses invalid UTF-8, naming the line (or the Parquet row)", async () => {
  const enc = new TextEncoder();
  const good = enc.encode('{"question":"é?","answer":"1"}\n\n');
  const bad = new Uint8Array([...good, ...enc.encode('{"question":"a'), 0xc3, 0x28, 0x22, 0x7d]);
  // Before the fix the bad bytes became U+FFFD and the row loaded.
  await assertRejects(
    () => parsePrompts(bad, "t.jsonl"),
    TypeError,
    "Cannot load prompts from t.jsonl: line 3 is not valid UTF-8; re-save the file as UTF-8",
  );
  await assertRejects(
    () => parsePrompts(new Uint8Array([0x5b, 0xff, 0x5d]), "t.json"),
    TypeError,
    "Cannot load prompts from t.json: line 1 is not valid UTF-8",
  );
  await assertRejects(
    () => parsePrompts(BAD_UTF8_PARQUET, "t.parquet"),
    TypeError,
    'Cannot load prompts from t.parquet: field "question" of row 1 is not valid UTF-8',
  );
  assertEquals(await parsePrompts(good, "t.jsonl"), [{ prompt: "é?", answer: "1" }]);
});
