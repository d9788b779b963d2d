/**
 * The headless notebook runner (tools/notebooks/run.py) against the real Deno kernel.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { findNotebookPython } from "../../tools/notebooks/run.ts";
import { notebookPython, runsHere } from "../../tools/requirement.ts";

const root = new URL("../../", import.meta.url).pathname;
const runner = `${root}tools/notebooks/run.py`;
const python = await findNotebookPython();
const runs = runsHere("notebook runner tests", notebookPython(python !== undefined));

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(python!, {
    args: [runner, "--no-install", ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

function text(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join("") : value ?? "";
}

function codeCell(source: string, metadata: Record<string, unknown> = {}): Cell {
  return { cell_type: "code", source, metadata, outputs: [] };
}

function notebook(cells: Cell[]): string {
  return JSON.stringify({
    cells: cells.map((c) => ({ ...c, execution_count: null })),
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 4,
  });
}

Deno.test("the runner keeps every output the Deno kernel sends after idle", async () => {
  if (!runs) return;
  const out = await Deno.makeTempDir();
  try {
    const result = await run([
      "--no-check",
      "--output-dir",
      out,
      `${root}notebooks/_race_selftest.ipynb`,
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(result.stdout, "notebooks: 1 passed, 0 failed");
    const nb = JSON.parse(await Deno.readTextFile(`${out}/_race_selftest.ipynb`)) as {
      cells: Cell[];
    };
    const cells = nb.cells.filter((c) => c.cell_type === "code");
    assertEquals(cells.length, 8);
    for (let k = 0; k < 4; k++) {
      // Cell 2k prints 200 stdout lines, 20 stderr lines and returns a displayable.
      const a = cells[2 * k].outputs ?? [];
      const stdout = a.filter((o) => o.name === "stdout").map((o) => text(o.text)).join("");
      const stderr = a.filter((o) => o.name === "stderr").map((o) => text(o.text)).join("");
      const lines = Array.from({ length: 200 }, (_, i) => `race-${k}-stdout ${i}\n`).join("");
      assertEquals(stdout, lines, `cell ${2 * k}: all 200 stdout lines, in order`);
      assertEquals(
        stderr,
        Array.from({ length: 20 }, (_, i) => `race-${k}-stderr ${i}\n`).join(""),
      );
      const results = a.filter((o) => o.output_type === "execute_result");
      assertEquals(results.length, 1);
      assertEquals(text(results[0].data?.["text/plain"] as string), `race-${k}-result`);
      // Cell 2k+1 prints 200 lines and ends with an awaited display.
      const b = cells[2 * k + 1].outputs ?? [];
      const bOut = b.filter((o) => o.name === "stdout").map((o) => text(o.text)).join("");
      assertEquals(
        bOut,
        Array.from({ length: 200 }, (_, i) => `race-${k}-display ${i}\n`).join(""),
      );
      const displays = b.filter((o) => o.output_type === "display_data");
      assertEquals(displays.length, 1);
      assertEquals(displays[0].data?.["application/json"], { k });
    }
    // Consecutive stream outputs are merged, as JupyterLab shows them.
    assert((cells[0].outputs ?? []).length <= 6, `got ${cells[0].outputs?.length} outputs`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the runner fails with the notebook, the cell index and the reason", async () => {
  if (!runs) return;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/a_error.ipynb`,
      notebook([codeCell("console.log('fine')"), codeCell("throw new RangeError('boom here');")]),
    );
    await Deno.writeTextFile(
      `${dir}/b_expect.ipynb`,
      notebook([
        codeCell("console.log('no chart')", {
          trepo: { expect: ["application/vnd.plotly.v1+json"] },
        }),
        codeCell("console.log('abc')", { trepo: { expect: ["stdout"], expect_text: ["xyz"] } }),
      ]),
    );
    await Deno.writeTextFile(
      `${dir}/d_types.ipynb`,
      notebook([
        codeCell("const unusedIsFine = 1;\nconst n: number = 2;"),
        codeCell("console.log(n);\nconst s: string = n;"),
      ]),
    );
    await Deno.writeTextFile(
      `${dir}/e_timeout.ipynb`,
      notebook([codeCell("await new Promise((resolve) => setTimeout(resolve, 30_000));")]),
    );
    const result = await run([
      "--no-check",
      "--timeout",
      "3",
      ...["a_error", "b_expect", "e_timeout"].map((n) => `${dir}/${n}.ipynb`),
    ]);
    assertEquals(result.code, 1);
    assertStringIncludes(result.stdout, "notebooks: 0 passed, 3 failed");
    assertStringIncludes(result.stderr, "a_error.ipynb: cell 1: RangeError: boom here");
    assertStringIncludes(
      result.stderr,
      "b_expect.ipynb: cell 0: expected output types missing: application/vnd.plotly.v1+json (got stdout)",
    );
    assertStringIncludes(result.stderr, 'b_expect.ipynb: cell 1: expected text missing: "xyz"');
    assertStringIncludes(result.stderr, "e_timeout.ipynb: cell 0: timed out after 3 s");

    const checked = await run(["--check-only", `${dir}/d_types.ipynb`, `${dir}/a_error.ipynb`]);
    assertEquals(checked.code, 1);
    assertStringIncludes(checked.stdout, "notebooks: 1 passed, 1 failed");
    assertStringIncludes(
      checked.stderr,
      "d_types.ipynb: cell 1, line 2, column 7: type check failed",
    );
    assertStringIncludes(checked.stderr, "TS2322");
    assert(!checked.stderr.includes("TS6133"), "unused variables are not errors in notebooks");
    const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".ts"));
    assertEquals(leftovers, [], "the type-check file is removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
