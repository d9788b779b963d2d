/** Test helper: open HTML in the system's headless Chromium (the same launch as figureToImage). */
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_FLAGS, findChromium } from "../../lib/report/figure_to_image.ts";

/** Run `fn` with a fresh page of a headless Chromium; the browser is closed afterwards. */
export async function withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  const executablePath = findChromium();
  if (executablePath === undefined) {
    throw new Error(
      'No Chromium on PATH: install it with "apt-get install chromium" (tools/ci_install.sh)',
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "trepo-test-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS.filter((flag) => flag !== "--headless"),
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(60_000);
    return await fn(page);
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true });
  }
}
