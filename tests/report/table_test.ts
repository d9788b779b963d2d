import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { jupyterDisplaySymbol } from "../../lib/report/display.ts";
import { formatNumber, table } from "../../lib/report/table.ts";

Deno.test("formatNumber", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [7, "7"],
    [-42, "-42"],
    [421000, "421000"],
    [0.5, "0.5"],
    [-0.5, "-0.5"],
    [1 / 3, "0.3333"],
    [2 / 3, "0.6667"],
    [3.14159, "3.142"],
    [1234.5678, "1235"],
    [98765.4321, "98765"],
    [0.001, "0.001"],
    [0.00012346, "1.235e-4"],
    [2.5e-7, "2.5e-7"],
    [1e20, "1e20"],
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    [-Infinity, "-Infinity"],
  ];
  for (const [value, text] of cases) {
    assertEquals(formatNumber(value), text, `formatNumber(${value})`);
  }
  assertEquals(formatNumber(1 / 3, 2), "0.33");
  assertThrows(
    () => formatNumber(1, 0),
    RangeError,
    "Cannot format number: digits must be an integer in [1, 17], got 0",
  );
});

const rows = [
  { method: "GRPO", reward: 0.61234, kl: 0.0123, steps: 200 },
  { method: "RLOO | LOO", reward: 0.6, steps: 180, note: "<b>" },
];

Deno.test("table formats cells, orders columns by first appearance and aligns numbers", () => {
  const t = table(rows);
  assertEquals(t.columns, ["method", "reward", "kl", "steps", "note"]);
  assertEquals(t.numeric, [false, true, true, true, false]);
  assertEquals(t.cells, [
    ["GRPO", "0.6123", "0.0123", "200", ""],
    ["RLOO | LOO", "0.6", "", "180", "<b>"],
  ]);
});

Deno.test("table markdown, text and HTML", () => {
  const t = table(rows, { columns: ["method", "reward", "note"] });
  assertEquals(
    t.toMarkdown(),
    [
      "| method | reward | note |",
      "| --- | ---: | --- |",
      "| GRPO | 0.6123 |  |",
      "| RLOO \\| LOO | 0.6 | <b> |",
    ].join("\n"),
  );
  assertEquals(
    t.toText(),
    [
      "method      reward  note",
      "----------  ------  ----",
      "GRPO        0.6123",
      "RLOO | LOO     0.6  <b>",
    ].join("\n"),
  );
  const html = t.toHtml();
  assertStringIncludes(html, '<th style="text-align:right">reward</th>');
  assertStringIncludes(html, "<td>&lt;b&gt;</td>");
  assertStringIncludes(html, '<td style="text-align:right">0.6123</td>');
  const bundle = t[jupyterDisplaySymbol]();
  assertEquals(Object.keys(bundle).sort(), ["text/html", "text/markdown", "text/plain"]);
  assertEquals(bundle["text/plain"], t.toText());
});

Deno.test("table formats other value kinds and takes a caption", () => {
  const t = table(
    [{ ok: true, big: 12n, when: new Date(Date.UTC(2025, 0, 2)), obj: { a: 1 }, none: null }],
    { caption: "Kinds", digits: 2 },
  );
  assertEquals(t.cells[0], ["true", "12", "2025-01-02T00:00:00.000Z", '{"a":1}', ""]);
  assertEquals(t.toMarkdown().split("\n")[0], "**Kinds**");
  assertStringIncludes(t.toHtml(), "<caption>Kinds</caption>");
  assertEquals(table([{ x: 1 / 3 }], { digits: 2 }).cells, [["0.33"]]);
  assertEquals(table([], { columns: ["a"] }).toMarkdown(), "| a |\n| --- |");
});

Deno.test("table rejects bad input", () => {
  assertThrows(() => table([]), RangeError, "Cannot make table: no rows and no columns");
  assertThrows(
    () => table("rows" as unknown as []),
    TypeError,
    'Cannot make table: rows must be an array of objects, got "rows"',
  );
  assertThrows(
    () => table([{ a: 1 }, 3 as unknown as Record<string, unknown>]),
    TypeError,
    "Cannot make table: row 1 must be an object, got 3",
  );
  assertThrows(
    () => table([{ a: 1 }], { columns: [1 as unknown as string] }),
    TypeError,
    "Cannot make table: columns must be an array of strings",
  );
  assertThrows(
    () => table([{ a: 1 }], { digits: 0 }),
    RangeError,
    "Cannot make table: digits must be an integer in [1, 17], got 0",
  );
});
