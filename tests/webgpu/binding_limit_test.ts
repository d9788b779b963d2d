/**
 * Tensors over WebGPU's 128 MiB storage binding on the webgpu backend: `binding_limit.ts` runs in
 * a subprocess (`deno run --unstable-webgpu`, `TREPO_ALLOW_SOFTWARE_ADAPTER=1`, so Mesa's
 * llvmpipe adapter, which binds at most 128 MiB, is accepted) on a `[35000, 960]` float32 table
 * (134.4 MB), and its numbers are checked here against plain-JS sums of the same formulas. Without
 * the split every one of them reads back as zeros. About 30 s on llvmpipe (2 cores), most of it
 * uploading the table and llvmpipe's matmuls.
 *
 * When the subprocess finds no WebGPU adapter at all, the test is skipped with a message.
 */
import { assert, assertArrayAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { mesa, runsHere } from "../../tools/requirement.ts";
import { COLUMNS, entry, IDS, left, ROWS, tall, WIDTH } from "./binding_limit.ts";

interface LimitOutput {
  backend: string;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  tableBytes: number;
  gathered: number[];
  head: number[][];
  eTu: number[];
  gradientRows: number[][];
  gradientElsewhere: number;
  refused: string;
  leaked: number;
  leakedData: number;
}

async function runLimit(): Promise<LimitOutput | string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-webgpu",
      new URL("./binding_limit.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1", TREPO_ALLOW_SOFTWARE_ADAPTER: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const line = stdout.split("\n").find((l) => l.startsWith("LIMIT "));
  if (out.code === 0 && line !== undefined) return JSON.parse(line.slice("LIMIT ".length));
  if (stderr.includes("found no adapter at all")) return "no WebGPU adapter on this machine";
  throw new Error(`The webgpu binding-limit run failed (exit ${out.code}):\n${stdout}\n${stderr}`);
}

const sum = (n: number, f: (j: number) => number) => {
  let s = 0;
  for (let j = 0; j < n; j++) s += f(j);
  return s;
};

Deno.test("webgpu (software adapter): a [35000, 960] float32 table over the 128 MiB binding limit", async (t) => {
  const run = await runLimit();
  if (typeof run === "string") return void runsHere("webgpu binding-limit test", mesa(run));
  assertEquals(run.backend, "webgpu");
  console.log(`webgpu limits: ${JSON.stringify(run.limits)}, table ${run.tableBytes} bytes`);

  await t.step("the device's limits are reported; the table is over the binding limit", () => {
    assertEquals(run.tableBytes, 134_400_000);
    assert(run.limits.maxBufferSize >= run.tableBytes, "the table cannot even exist");
    if (run.limits.maxStorageBufferBindingSize < run.tableBytes) {
      // llvmpipe: exactly 128 MiB, so the split is exercised.
      assert(run.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
    }
  });

  await t.step("gather (embedding lookup) reads rows on both sides of the piece boundary", () => {
    const expected = IDS.flatMap((id) => Array.from({ length: WIDTH }, (_, j) => entry(id, j)));
    assertArrayAlmostEquals(run.gathered, expected, 1e-6);
  });

  await t.step("h·Eᵀ (the tied head, split by columns) equals the hand sums", () => {
    const expected = [0, 1].map((r) =>
      COLUMNS.map((c) => sum(WIDTH, (j) => left(r, j) * entry(c, j)))
    );
    assertArrayAlmostEquals(run.head.flat(), expected.flat(), 1e-4);
  });

  await t.step("Eᵀ·u (split over the 35000-long contraction) equals the hand sums", () => {
    const expected: number[] = [];
    for (let j = 0; j < WIDTH; j++) {
      for (let c = 0; c < 2; c++) expected.push(sum(ROWS, (i) => entry(i, j) * tall(i, c)));
    }
    assertArrayAlmostEquals(run.eTu, expected, 1e-3);
  });

  await t.step("the embedRows gradient, itself 134.4 MB, is h₀ on each looked-up row", () => {
    IDS.forEach((id, n) => {
      const times = IDS.filter((x) => x === id).length;
      const expected = Array.from({ length: WIDTH }, (_, j) => times * left(0, j));
      assertArrayAlmostEquals(run.gradientRows[n], expected, 1e-6, `row ${id}`);
    });
    assertEquals(run.gradientElsewhere, 0);
  });

  await t.step("another kernel refuses the table with an error instead of returning zeros", () => {
    if (run.limits.maxStorageBufferBindingSize >= run.tableBytes) return;
    assertStringIncludes(run.refused, "exceeds this device's maxStorageBufferBindingSize");
  });

  await t.step("no tensor and no backend buffer leaked", () => {
    assertEquals(run.leaked, 0);
    assertEquals(run.leakedData, 0);
  });
});
