/**
 * `deno task browser-check`: open executed notebooks in a real JupyterLab in headless Chromium
 * and check what a person would see.
 *
 * For each notebook (default `notebooks/_report_selftest.ipynb`):
 * 1. execute it headless with `tools/notebooks/run.py --output-dir results/jupyter/tmp`
 *    (skip with `--no-execute` to open notebooks as they are, e.g. committed with outputs);
 * 2. start JupyterLab on 127.0.0.1 (a free port, a random token, that folder as root, the
 *    project-local Deno kernelspec, no update checks or news);
 * 3. open the notebook in headless Chromium through playwright-core and wait until a plotly
 *    chart rendered (`svg.main-svg`), then assert that no output shows an error or stderr
 *    (`[data-mime-type="application/vnd.jupyter.stderr"]`);
 * 4. save a full-page screenshot to `results/jupyter/<notebook>.png`.
 *
 * Exits non-zero naming the notebook and the problem. Needs JupyterLab (`pip install
 * jupyterlab plotly`; plotly brings the JupyterLab renderer for plotly outputs) and Chromium
 * (`apt-get install chromium`): `tools/ci_install.sh` installs both.
 *
 * @module
 */

import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS, findChromium } from "../../lib/report/figure_to_image.ts";
import { findNotebookPython } from "./run.ts";
import {
  chromium as chromiumRequirement,
  notebookPython,
  onPath,
  runsHere,
} from "../requirement.ts";

const root = new URL("../../", import.meta.url).pathname;
const resultsDir = `${root}results/jupyter`;
const servedDir = `${resultsDir}/tmp`;

interface Options {
  notebooks: string[];
  execute: boolean;
  timeoutMs: number;
}

function parseArgs(args: readonly string[]): Options {
  const notebooks: string[] = [];
  let execute = true;
  let timeoutMs = 120_000;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--no-execute") execute = false;
    else if (arg === "--timeout") timeoutMs = 1000 * Number(args[++i]);
    else if (arg.startsWith("--")) {
      throw new Error(`Cannot run the browser check: unknown option ${arg}`);
    } else notebooks.push(arg);
  }
  if (notebooks.length === 0) notebooks.push(`${root}notebooks/_report_selftest.ipynb`);
  return { notebooks, execute, timeoutMs };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

async function executeInto(notebooks: readonly string[], dir: string): Promise<void> {
  const python = await findNotebookPython();
  if (python === undefined) {
    throw new Error(
      "Cannot run the browser check: no Python with nbclient (run tools/ci_install.sh)",
    );
  }
  const { success } = await new Deno.Command(python, {
    args: [`${root}tools/notebooks/run.py`, "--output-dir", dir, ...notebooks],
    env: { NO_COLOR: "1" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("Cannot run the browser check: executing the notebooks failed");
}

async function waitForServer(
  url: string,
  server: Deno.ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  server.status.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error("Cannot run the browser check: JupyterLab exited while starting");
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`Cannot run the browser check: JupyterLab did not answer within ${timeoutMs} ms`);
}

async function main(): Promise<number> {
  const options = parseArgs(Deno.args);
  // Without its tools: a message and exit 0 (`deno task test` on a fresh machine), an error
  // under CI.
  const needs = [
    chromiumRequirement(),
    onPath("jupyter", "pip install jupyterlab plotly, or run bash .ci/run"),
    ...(options.execute ? [notebookPython(await findNotebookPython() !== undefined)] : []),
  ];
  const runs = needs.map((need) => runsHere("deno task browser-check", need));
  if (!runs.every((run) => run)) return 0;
  const executablePath = findChromium()!;
  await Deno.mkdir(servedDir, { recursive: true });
  const names = options.notebooks.map(basename);
  if (options.execute) {
    await executeInto(options.notebooks, servedDir);
  } else {
    for (const path of options.notebooks) {
      await Deno.copyFile(path, `${servedDir}/${basename(path)}`);
      // The plotly.js its figures load (written by the kernel next to the notebook).
      const plotly = `${path.slice(0, path.lastIndexOf("/") + 1)}plotly.min.js`;
      await Deno.copyFile(plotly, `${servedDir}/plotly.min.js`).catch(() => {});
    }
  }

  const port = freePort();
  const token = crypto.randomUUID().replaceAll("-", "");
  const jupyterPath = [`${root}tools/notebooks`, Deno.env.get("JUPYTER_PATH")].filter(Boolean).join(
    ":",
  );
  const server = new Deno.Command("jupyter", {
    args: [
      "lab",
      "--no-browser",
      "--ServerApp.ip=127.0.0.1",
      `--ServerApp.port=${port}`,
      "--ServerApp.port_retries=0",
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${servedDir}`,
      "--LabApp.news_url=",
      "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
      "--LabApp.extension_manager=readonly",
      ...(Deno.uid() === 0 ? ["--allow-root"] : []),
    ],
    cwd: servedDir,
    env: { JUPYTER_PATH: jupyterPath, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverLog: string[] = [];
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) serverLog.push(decoder.decode(chunk));
  };
  const draining = Promise.all([drain(server.stdout), drain(server.stderr)]);

  const profile = await Deno.makeTempDir({ prefix: "trepo-browser-check-" });
  const failures: string[] = [];
  try {
    await waitForServer(`http://127.0.0.1:${port}/api/status?token=${token}`, server, 60_000);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS.filter((flag) => flag !== "--headless"),
      viewport: { width: 1280, height: 2600 },
    });
    try {
      for (const name of names) {
        const page = await context.newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(error.message));
        const url = `http://127.0.0.1:${port}/lab/tree/${encodeURIComponent(name)}?token=${token}`;
        const started = Date.now();
        await page.goto(url, { timeout: options.timeoutMs });
        try {
          await page.waitForSelector("svg.main-svg", { timeout: options.timeoutMs });
        } catch {
          failures.push(
            `${name}: no plotly chart (svg.main-svg) rendered within ${options.timeoutMs} ms`,
          );
        }
        // Let every output render before counting; dismiss the "Jupyter news" toast if shown.
        await page.waitForTimeout(2000);
        await page.locator(".jp-toast-button:has-text('No')").first().click({ timeout: 1000 })
          .catch(() => {});
        const charts = await page.locator("svg.main-svg").count();
        const errors = await page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
          .count();
        const outputs = await page.locator(".jp-OutputArea-output").count();
        if (errors > 0) failures.push(`${name}: ${errors} output(s) show an error or stderr`);
        if (outputs === 0) failures.push(`${name}: the notebook shows no outputs`);
        const shot = `${resultsDir}/${name.replace(/\.ipynb$/, "")}.png`;
        await page.screenshot({ path: shot, fullPage: true });
        console.log(
          `browser-check: ${name}: ${outputs} outputs, ${charts} plotly svg elements, ${errors} errors, ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s; screenshot ${
              shot.slice(root.length)
            }` +
            (pageErrors.length ? `; page errors: ${pageErrors.slice(0, 3).join(" / ")}` : ""),
        );
        await page.close();
      }
    } finally {
      await context.close();
    }
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    try {
      server.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        server.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 10_000);
    await server.status;
    clearTimeout(timer);
    await draining.catch(() => {});
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
  if (failures.length > 0) {
    for (const failure of failures) console.error(`browser-check: FAILED: ${failure}`);
    console.error(
      `--- JupyterLab log (last lines) ---\n${
        serverLog.join("").split("\n").slice(-30).join("\n")
      }`,
    );
    const named = new Set(failures.map((f) => f.split(":")[0]).filter((n) => names.includes(n)));
    const failed = failures.every((f) => names.includes(f.split(":")[0]))
      ? named.size
      : names.length;
    console.log(`browser-check: ${names.length - failed} passed, ${failed} failed`);
    return 1;
  }
  console.log(`browser-check: ${names.length} passed, 0 failed`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
