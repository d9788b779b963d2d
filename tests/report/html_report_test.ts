import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { renderHtmlReport, writeHtmlReport } from "../../lib/report/html_report.ts";
import { withPage } from "./browser.ts";
import { chromium, runsHere } from "../../tools/requirement.ts";

const PLOTLY_MARKER = "plotly.js (plotly.js-dist-min), inlined by trepo";

Deno.test("renderHtmlReport: sections in order, text escaped, plotly inlined once", () => {
  const html = renderHtmlReport([
    { title: "Setup", text: "First <paragraph>.\n\nSecond & last." },
    { title: "Reward", figure: { data: [{ y: [1, 2] }] } },
    { title: "Accuracy", figure: { data: [{ y: [3, 4] }] }, table: [{ method: "GRPO", acc: 0.5 }] },
  ], { title: "Run 7" });
  assertStringIncludes(html, "<title>Run 7</title>");
  assertStringIncludes(html, "<p>First &lt;paragraph&gt;.</p>\n<p>Second &amp; last.</p>");
  assertEquals(html.split(PLOTLY_MARKER).length, 2, "plotly.js exactly once");
  assertEquals(html.split("Plotly.newPlot(").length, 3, "one newPlot per figure");
  const order = ["<h2>Setup</h2>", "<h2>Reward</h2>", "<h2>Accuracy</h2>"].map((h) =>
    html.indexOf(h)
  );
  assert(order[0] < order[1] && order[1] < order[2], `sections out of order: ${order}`);
  assertStringIncludes(html, '<td style="text-align:right">0.5</td>');
});

Deno.test("renderHtmlReport without figures carries no plotly.js", () => {
  const html = renderHtmlReport([{ title: "Only text", text: "hi" }]);
  assert(!html.includes(PLOTLY_MARKER));
  assert(html.length < 3000);
  assertStringIncludes(html, "<title>Only text</title>");
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
  assertStringIncludes(
    renderHtmlReport([{ title: "i", image: png }]),
    `base64,${btoa("\x89PNG")}"`,
  );
});

Deno.test("renderHtmlReport rejects malformed sections", () => {
  const context = "Cannot write HTML report";
  assertThrows(
    () => renderHtmlReport("x" as unknown as []),
    TypeError,
    `${context}: sections must be an array, got "x"`,
  );
  assertThrows(
    () => renderHtmlReport([null as unknown as { title: string }]),
    TypeError,
    `${context}: section 0 must be an object, got null`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: 3 as unknown as string }]),
    TypeError,
    `${context}: section 0 title must be a string, got 3`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: "a", text: 1 as unknown as string }]),
    TypeError,
    `${context}: section 0 text must be a string, got 1`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: "a" }, { title: "b", figure: { data: [] } }]),
    RangeError,
    `${context}: section 1: figure has no traces`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: "a", figure: { data: [{ x: [1], y: [1, 2] }] } }]),
    TypeError,
    `${context}: section 0: trace 0 has 1 x values but 2 y values`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: "a", image: [1] as unknown as Uint8Array }]),
    TypeError,
    `${context}: section 0 image must be a Uint8Array of PNG bytes`,
  );
  assertThrows(
    () => renderHtmlReport([{ title: "a", table: [] }]),
    RangeError,
    "Cannot make table: no rows and no columns",
  );
});

Deno.test("writeHtmlReport writes atomically into new folders and replaces old files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/nested/deeper/report.html`;
    await writeHtmlReport(path, [{ title: "v1", text: "one" }]);
    await writeHtmlReport(path, [{ title: "v2", text: "two" }]);
    const text = await Deno.readTextFile(path);
    assertStringIncludes(text, "<h1>v2</h1>");
    const names = [...Deno.readDirSync(`${dir}/nested/deeper`)].map((e) => e.name);
    assertEquals(names, ["report.html"], "no temporary files left");

    await Deno.mkdir(`${dir}/taken.html`);
    await assertRejects(() => writeHtmlReport(`${dir}/taken.html`, [{ title: "x" }]));
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(after, ["nested", "taken.html"], "a failed write leaves no temporary file");
    await assertRejects(
      () => writeHtmlReport("", [{ title: "x" }]),
      TypeError,
      'Cannot write HTML report: path must be a non-empty string, got ""',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a written report draws its charts in headless Chromium without network", async () => {
  if (!runsHere("HTML report in Chromium", chromium())) return;
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await writeHtmlReport(path, [
      { title: "Reward", figure: { data: [{ x: [1, 2, 3], y: [0.2, 0.5, 0.9] }] } },
      { title: "KL", figure: { data: [{ type: "bar", x: ["GRPO", "RLOO"], y: [0.01, 0.02] }] } },
    ]);
    const result = await withPage(async (page) => {
      const requests: string[] = [];
      page.on("request", (request) => requests.push(request.url()));
      await page.goto(`file://${path}`);
      await page.waitForFunction(() =>
        (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } })
          .document.querySelectorAll(".trepo-plot .main-svg").length > 0
      );
      await page.waitForTimeout(300);
      const plots = await page.locator(".trepo-plot").count();
      const drawn = await page.locator(".trepo-plot:has(svg.main-svg)").count();
      const bars = await page.locator(".trepo-plot .bars .point").count();
      return {
        plots,
        drawn,
        bars,
        external: requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:")),
      };
    });
    assertEquals(result.plots, 2);
    assertEquals(result.drawn, 2);
    assertEquals(result.bars, 2);
    assertEquals(result.external, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
