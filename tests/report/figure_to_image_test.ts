import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { chromium, runsHere } from "../../tools/requirement.ts";
import {
  CHROMIUM_FLAGS,
  figureToImage,
  findChromium,
  openFigureRenderer,
} from "../../lib/report/figure_to_image.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian). */
function pngSize(bytes: Uint8Array): [number, number] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(16), view.getUint32(20)];
}

Deno.test("Chromium is installed and launched with the documented flags", () => {
  runsHere("figure images: Chromium is installed", chromium());
  for (
    const flag of [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ]
  ) {
    assert(CHROMIUM_FLAGS.includes(flag), flag);
  }
});

Deno.test("one renderer makes real PNGs (with the asked size and scale) and SVGs", async () => {
  if (!runsHere("figure images: PNG and SVG rendering", chromium())) return;
  const renderer = await openFigureRenderer();
  try {
    const figure = {
      data: [{ x: [1, 2, 3], y: [2, 1, 3], name: "reward" }],
      layout: { title: { text: "PNG check" } },
    };
    const png = await renderer.render(figure, { width: 400, height: 300 });
    assertEquals([...png.subarray(0, 8)], PNG_SIGNATURE);
    assertEquals(pngSize(png), [400, 300]);
    assert(png.length > 5000, `a drawn chart is not tiny, got ${png.length} bytes`);

    const doubled = await renderer.render(figure, { width: 400, height: 300, scale: 2 });
    assertEquals(pngSize(doubled), [800, 600]);

    const fromLayout = await renderer.render({
      data: [{ y: [1] }],
      layout: { width: 320, height: 240 },
    });
    assertEquals(pngSize(fromLayout), [320, 240]);

    const svg = new TextDecoder().decode(
      await renderer.render(figure, { format: "svg", width: 500, height: 250 }),
    );
    assert(svg.startsWith("<svg"), svg.slice(0, 40));
    assertStringIncludes(svg, 'width="500"');
    assertStringIncludes(svg, 'height="250"');
    assertStringIncludes(svg, "PNG check");
    assertStringIncludes(svg, "scatterlayer");

    await assertRejects(
      () => renderer.render(figure, { format: "gif" as "png" }),
      RangeError,
      'Cannot render figure to image: format must be "png" or "svg", got "gif"',
    );
    await assertRejects(
      () => renderer.render(figure, { width: 5 }),
      RangeError,
      "Cannot render figure to image: width must be an integer in [10, 8000], got 5",
    );
    await assertRejects(
      () => renderer.render(figure, { scale: 0 }),
      RangeError,
      "Cannot render figure to image: scale must be a number in (0, 10], got 0",
    );
    await assertRejects(
      () => renderer.render({ data: [] }),
      RangeError,
      "Cannot render figure to image: figure has no traces",
    );
  } finally {
    await renderer.close();
  }
  await assertRejects(
    () => renderer.render({ data: [{ y: [1] }] }),
    Error,
    "Cannot render figure to image: the renderer is closed",
  );
});

Deno.test("figureToImage validates before launching and names the package when Chromium is missing", async () => {
  await assertRejects(
    () => figureToImage({ data: [{ x: [1, 2], y: [1] }] }),
    TypeError,
    "Cannot render figure to image: trace 0 has 2 x values but 1 y values",
  );
  const path = Deno.env.get("PATH") ?? "";
  const empty = await Deno.makeTempDir();
  Deno.env.set("PATH", empty);
  try {
    assertEquals(findChromium(), undefined);
    await assertRejects(
      () => figureToImage({ data: [{ y: [1] }] }),
      Deno.errors.NotFound,
      'no Chromium found on PATH (looked for chromium, chromium-browser, google-chrome, google-chrome-stable); install it with "apt-get install chromium"',
    );
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(empty);
  }
  await assertRejects(
    () => figureToImage({ data: [{ y: [1] }] }, { executablePath: "/nonexistent/chromium" }),
    Error,
    "Cannot render figure to image: Chromium (/nonexistent/chromium) failed to start",
  );
});
