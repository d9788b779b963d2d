import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { jupyterDisplaySymbol } from "../../lib/report/display.ts";
import { plot } from "../../lib/report/plot.ts";
import { PLOTLY_FILE, resetPlotlyInlining, writePlotlyFile } from "../../lib/report/plotly_html.ts";
import { isJupyter, jupyterApi } from "../../lib/report/display.ts";
import { withPage } from "./browser.ts";
import { chromium, runsHere } from "../../tools/requirement.ts";

const PLOTLY_MARKER = "plotly.js (plotly.js-dist-min), inlined by trepo";

Deno.test("the display symbol is the one Deno's kernel looks for", () => {
  assertEquals(jupyterDisplaySymbol, Symbol.for("Jupyter.display"));
});

Deno.test("plot returns a synchronous bundle with plotly JSON, HTML and a summary", () => {
  const figure = {
    data: [{ x: [1, 2, 3], y: [0.5, 0.25, 0.125], name: "loss" }],
    layout: { title: { text: "Loss" } },
  };
  const chart = plot(figure);
  const display =
    (chart as unknown as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")];
  const bundle = display.call(chart) as Record<string, unknown>;
  assert(!(bundle instanceof Promise), "the display method must be synchronous");
  assertEquals(Object.keys(bundle).sort(), [
    "application/vnd.plotly.v1+json",
    "text/html",
    "text/plain",
  ]);
  assertEquals(bundle["application/vnd.plotly.v1+json"], figure);
  assertEquals(bundle["text/plain"], 'Plotly figure "Loss": 1 trace (scatter), 3 points');
  const html = bundle["text/html"] as string;
  assertStringIncludes(html, "Plotly.newPlot");
  assertStringIncludes(html, '"y":[0.5,0.25,0.125]');
});

Deno.test("no HTML output carries plotly.js: the first loads it from a file, once", () => {
  resetPlotlyInlining();
  const chart = plot({ data: [{ y: [1, 2] }] });
  const first = chart[jupyterDisplaySymbol]()["text/html"] as string;
  const second = chart[jupyterDisplaySymbol]()["text/html"] as string;
  // Before the fix the first output held all of plotly.js (4.8 MB in every notebook).
  assert(!first.includes(PLOTLY_MARKER));
  assert(first.length < 20_000, `${first.length} characters`);
  assertStringIncludes(first, '"/files/" + m[2] + "plotly.min.js"');
  assertEquals(first.split("/* loads window.Plotly */").length, 2, "one loader tag");
  assert(!second.includes("/* loads window.Plotly */"));
  assert(second.length < 20_000);
});

Deno.test("plot embeds a PNG fallback inside the div and escapes script-closing text", () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  const chart = plot({ data: [{ y: [1], name: "</script><b>x" }] }, { png });
  const html = chart[jupyterDisplaySymbol]()["text/html"] as string;
  // btoa of the seven bytes above, computed independently
  assertStringIncludes(html, `src="data:image/png;base64,${btoa("\x89PNG\x01\x02\x03")}"`);
  const divOpen = html.indexOf('<div id="trepo-plot-');
  const divClose = html.indexOf("</div>", divOpen);
  assert(html.indexOf("<img", divOpen) < divClose, "the image is inside the plot div");
  assert(!html.includes("</script><b>"), "figure JSON cannot close the script element");
  assertStringIncludes(html, "\\u003c/script>\\u003cb>x");
  const viaBase64 = plot({ data: [{ y: [1] }] }, { png: "QUJD" })[jupyterDisplaySymbol]();
  assertStringIncludes(viaBase64["text/html"] as string, "base64,QUJD");
});

Deno.test("plot converts typed arrays to JSON arrays", () => {
  const chart = plot({ data: [{ y: new Float32Array([0.5, 2]) }] });
  assertEquals(chart.figure.data[0].y, [0.5, 2]);
  const json = chart[jupyterDisplaySymbol]()["application/vnd.plotly.v1+json"];
  assertEquals(JSON.parse(JSON.stringify(json)), { data: [{ y: [0.5, 2] }] });
});

Deno.test("plot validates at call time", () => {
  assertThrows(() => plot({ data: [] }), RangeError, "Cannot plot figure: figure has no traces");
  assertThrows(
    () => plot({ data: [{ x: [1, 2], y: [1] }] }),
    TypeError,
    "Cannot plot figure: trace 0 has 2 x values but 1 y values",
  );
  assertThrows(
    () => plot({ data: [{ y: [1] }] }, { png: 5 as unknown as string }),
    TypeError,
    "Cannot plot figure: png must be a Uint8Array or a base64 string",
  );
});

Deno.test("outside the kernel Deno.jupyter is not touched and isJupyter is false", () => {
  assertEquals(isJupyter(), false);
  assertEquals(jupyterApi(), undefined);
});

Deno.test("plot's HTML loads plotly.min.js next to the notebook and draws, in any output order", async () => {
  if (!runsHere("plot's HTML in Chromium", chromium())) return;
  resetPlotlyInlining();
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
  const first = plot({ data: [{ y: [1, 3, 2] }] })[jupyterDisplaySymbol]()["text/html"] as string;
  const second = plot({ data: [{ type: "bar", x: ["a", "b", "c"], y: [1, 2, 3] }] }, { png })[
    jupyterDisplaySymbol
  ]()["text/html"] as string;
  // A Jupyter server's routes: the notebook page under /lab/tree/, its folder's files under /files/.
  const dir = await Deno.makeTempDir();
  assert(writePlotlyFile(dir));
  const plotlyJs = await Deno.readFile(`${dir}/${PLOTLY_FILE}`);
  await Deno.remove(dir, { recursive: true });
  const requested: string[] = [];
  const page = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<div class="output">${second}</div><div class="output">${first}</div></body></html>`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    requested.push(path);
    if (path === "/lab/tree/work/nb.ipynb") {
      return new Response(page, { headers: { "content-type": "text/html" } });
    }
    if (path === "/files/work/plotly.min.js") {
      return new Response(plotlyJs, { headers: { "content-type": "text/javascript" } });
    }
    return new Response("not found", { status: 404 });
  });
  try {
    const result = await withPage(async (p) => {
      await p.goto(`http://127.0.0.1:${server.addr.port}/lab/tree/work/nb.ipynb`);
      await p.waitForFunction(() => {
        const doc = (globalThis as unknown as {
          document: { querySelectorAll(s: string): { length: number } };
        }).document;
        return doc.querySelectorAll(".trepo-plot:has(svg.main-svg)").length === 2;
      });
      return {
        fallbackImages: await p.locator("img.trepo-plot-fallback").count(),
        bars: await p.locator(".bars .point").count(),
      };
    });
    assertEquals(result.fallbackImages, 0, "the PNG fallback is removed once plotly draws");
    assertEquals(result.bars, 3);
    assertEquals(requested.filter((r) => r === "/files/work/plotly.min.js").length, 1);
  } finally {
    await server.shutdown();
  }
});
