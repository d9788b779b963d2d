import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import type { MediaBundle } from "../../lib/report/display.ts";
import { validateFigure } from "../../lib/report/figure.ts";
import { liveTraining, TextProgress } from "../../lib/report/live_training.ts";
import { resetPlotlyInlining } from "../../lib/report/plotly_html.ts";

function clock(): { now: () => number; set: (ms: number) => void } {
  let t = 0;
  return { now: () => t, set: (ms) => (t = ms) };
}

Deno.test("text progress off a terminal prints the first, every k-th and the last step", async () => {
  const c = clock();
  const lines: string[] = [];
  const live = liveTraining({
    totalSteps: 4,
    metrics: ["reward/mean", "eval/accuracy"],
    mode: "text",
    tty: false,
    textEvery: 2,
    write: (text) => lines.push(text),
    now: c.now,
  });
  assertEquals(live.mode, "text");
  c.set(1000);
  live.update(1, { "reward/mean": 0.25 });
  c.set(2000);
  live.update(2, { "reward/mean": 0.5, "eval/accuracy": 0.5 });
  c.set(3000);
  live.update(3, { "reward/mean": 0.75 });
  c.set(4000);
  live.update(4, { "reward/mean": 1 });
  await live.finish();
  // rate: 1 step per 1000 ms; ETA = remaining steps / rate
  assertEquals(lines, [
    "step 1/4 (25%) | 1 step/s | ETA 3s | reward/mean 0.25\n",
    "step 2/4 (50%) | 1 step/s | ETA 2s | reward/mean 0.5 | eval/accuracy 0.5\n",
    "step 4/4 (100%) | 1 step/s | reward/mean 1 | eval/accuracy 0.5\n",
  ]);
  assertEquals(live.history.get("reward/mean"), [[1, 0.25], [2, 0.5], [3, 0.75], [4, 1]]);
  assertEquals(live.history.get("eval/accuracy"), [[2, 0.5]]);
});

Deno.test("text progress on a terminal redraws one bar in place and throttles", () => {
  const out: string[] = [];
  const progress = new TextProgress({
    totalSteps: 4,
    tty: true,
    write: (text) => out.push(text),
    now: () => 0,
    minIntervalMs: 100,
  });
  progress.update(1, { "reward/mean": 0.25 });
  progress.update(2, { "reward/mean": 0.5 }); // same instant: throttled
  progress.finish();
  progress.finish(); // idempotent
  assertEquals(out, [
    // 30 * 1/4 = 7.5 rounds to 8 filled cells
    "\r[########......................] 25% step 1/4 | reward/mean 0.25",
    // one space pads over the longer previous line
    "\r[###############...............] 50% step 2/4 | reward/mean 0.5 ",
    "\n",
  ]);
});

Deno.test("Jupyter mode displays once, then updates the same display id in place", async () => {
  resetPlotlyInlining();
  const c = clock();
  const calls: { bundle: MediaBundle; options: { display_id?: string; update?: boolean } }[] = [];
  const live = liveTraining({
    totalSteps: 3,
    metrics: ["reward/mean"],
    mode: "jupyter",
    title: "Run A",
    minIntervalMs: 1000,
    now: c.now,
    display: (bundle, options) => {
      calls.push({ bundle, options });
      return Promise.resolve();
    },
  });
  assertEquals(live.mode, "jupyter");
  c.set(10);
  live.update(1, { "reward/mean": 0.2 });
  c.set(20);
  live.update(2, { "reward/mean": 0.4 }); // within 1000 ms of the last display: skipped
  c.set(30);
  live.update(3, { "reward/mean": 0.6 }); // the last step is always shown
  c.set(2030);
  await live.finish();
  await live.finish(); // idempotent

  assertEquals(calls.length, 4);
  // 1. plotly.js, in its own output without a display id (first figure of this process)
  assertEquals(calls[0].options, {});
  assertStringIncludes(calls[0].bundle["text/html"] as string, "window.Plotly");
  // 2. the live display, 3-4. updates of it
  const id = calls[1].options.display_id;
  assert(id !== undefined && id.startsWith("trepo-live-"));
  assertEquals(calls[1].options, { display_id: id });
  assertEquals(calls[2].options, { display_id: id, update: true });
  assertEquals(calls[3].options, { display_id: id, update: true });
  // floor(100 * 1 / 3) = 33 %
  assertStringIncludes(calls[1].bundle["text/html"] as string, "width:33%");
  // 1 step in the first 10 ms: 100 step/s; 2 steps left: ETA 0.02 s, shown as 0s
  assertEquals(
    calls[1].bundle["text/plain"],
    "Run A: 33% step 1/3 | 100 step/s | ETA 0s | reward/mean 0.2",
  );
  assert(!("application/vnd.plotly.v1+json" in calls[1].bundle));
  assert(!(calls[1].bundle["text/html"] as string).includes("inlined by trepo"));
  // the final bundle carries the figure for frontends that do not run scripts
  const final = calls[3].bundle;
  assertEquals(final["text/plain"], "Run A: 100% finished: 3/3 steps in 2s");
  const figure = final["application/vnd.plotly.v1+json"] as {
    data: { x: number[]; y: number[] }[];
  };
  assertEquals(figure.data.length, 1);
  assertEquals(figure.data[0].x, [1, 2, 3]);
  assertEquals(figure.data[0].y, [0.2, 0.4, 0.6]);
});

Deno.test("a failing display never breaks the training loop", async () => {
  const warn = console.warn;
  const warnings: unknown[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args);
  try {
    const live = liveTraining({
      totalSteps: 2,
      mode: "jupyter",
      minIntervalMs: 0,
      display: () => Promise.reject(new Error("socket closed")),
    });
    live.update(1, { kl: 0.1 });
    live.update(2, { kl: 0.2 });
    await live.finish();
  } finally {
    console.warn = warn;
  }
  assert(warnings.length >= 2);
});

Deno.test("onStep feeds the same display; metrics filter and NaN handling", async () => {
  const lines: string[] = [];
  const live = liveTraining({
    totalSteps: 2,
    metrics: ["a", "b"],
    mode: "text",
    tty: false,
    write: (t) => lines.push(t),
    now: () => 0,
  });
  const callbacks: { onStep(m: Record<string, number>, s: number, t: number): void } = live;
  callbacks.onStep({ a: 1, b: NaN, ignored: 5 }, 1, 2);
  callbacks.onStep({ a: 2 }, 2, 2);
  await live.finish();
  assertEquals([...live.history.keys()], ["a", "b"]);
  assertEquals(live.history.get("a"), [[1, 1], [2, 2]]);
  assertEquals(live.history.get("b"), []); // NaN is shown, not plotted
  assertEquals(lines[0], "step 1/2 (50%) | a 1 | b NaN\n");
  const figure = live.figure();
  validateFigure(figure, "figure");
  assertEquals(figure.data.map((t) => t.yaxis), ["y", "y2"]);
  assertEquals((figure.layout?.yaxis2 as { title: { text: string } }).title.text, "b");
});

Deno.test("liveTraining and TextProgress reject bad input", async () => {
  const quiet = { mode: "silent" as const };
  assertThrows(
    () => liveTraining({ totalSteps: 0 }),
    RangeError,
    "Cannot show training progress: totalSteps must be a positive integer, got 0",
  );
  assertThrows(
    () => liveTraining({ totalSteps: 2, mode: "loud" as "text" }),
    RangeError,
    'Cannot show training progress: mode must be one of "auto", "jupyter", "text", "silent", got "loud"',
  );
  const live = liveTraining({ totalSteps: 3, ...quiet });
  assertEquals(live.mode, "silent");
  assertThrows(
    () => live.update(4, {}),
    RangeError,
    "Cannot show training progress: step must be an integer in [0, 3], got 4",
  );
  assertThrows(
    () => live.update(1.5, {}),
    RangeError,
    "step must be an integer in [0, 3], got 1.5",
  );
  assertThrows(
    () => live.update(1, { kl: "0.1" as unknown as number }),
    TypeError,
    "Cannot show training progress: metric kl must be a number, got string",
  );
  assertThrows(
    () => live.onStep({}, 1, 5),
    RangeError,
    "Cannot show training progress: onStep got totalSteps 5, but the display was made for 3",
  );
  await live.finish();
  assertThrows(
    () => live.update(2, {}),
    Error,
    "Cannot show training progress: finish() was already called",
  );
  assertThrows(
    () => new TextProgress({ totalSteps: 3, every: 0 }),
    RangeError,
    "Cannot show training progress: every must be a positive integer, got 0",
  );
  assertThrows(
    () => liveTraining({ totalSteps: 3, metrics: "kl" as unknown as string[], ...quiet }),
    TypeError,
    "Cannot show training progress: metrics must be an array of strings",
  );
});

Deno.test("auto mode outside the kernel is text", async () => {
  const live = liveTraining({ totalSteps: 1, write: () => {}, tty: false });
  assertEquals(live.mode, "text");
  await live.finish();
});
