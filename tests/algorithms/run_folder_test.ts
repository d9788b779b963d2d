/**
 * A run folder holds one run: the lock refuses a second claim at once and is taken over once its
 * holder is dead; a folder with a run is refused unless resumed or moved aside; OS errors name
 * the folder.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { claimRunFolder, readRunLock, RUN_LOCK } from "../../lib/algorithms/run_folder.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** The pid of a process that has already ended. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "0"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await child.status;
  return child.pid;
}

Deno.test("a second claim refuses at once with the holder's pid and start time; release frees it", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/run`;
  const first = await claimRunFolder(dir);
  const holder = await readRunLock(dir);
  assertEquals(holder?.pid, Deno.pid);
  assertEquals(holder?.host, Deno.hostname());
  const error = await assertRejects(() => claimRunFolder(dir), Error);
  assertStringIncludes(
    error.message,
    `Cannot start the run: ${dir} is in use by run pid ${Deno.pid} since ${holder!.started}`,
  );
  first.release();
  first.release(); // twice is harmless
  assertEquals(await exists(`${dir}/${RUN_LOCK}`), false);
  assertEquals(await exists(dir), false, "the claim created the folder and nothing was written");
  await Deno.remove(root, { recursive: true });
});

Deno.test("a lock of a dead process on this host is stale and taken over; one from another host is not", async () => {
  const dir = await Deno.makeTempDir();
  const lock = `${dir}/${RUN_LOCK}`;
  const pid = await deadPid();
  const stale = { pid, host: Deno.hostname(), started: "2020-01-01T00:00:00.000Z", token: "x" };
  await Deno.writeTextFile(lock, JSON.stringify(stale));
  const folder = await claimRunFolder(dir);
  assertEquals((await readRunLock(dir))?.pid, Deno.pid);
  folder.release();
  const elsewhere = { ...stale, host: `not-${Deno.hostname()}` };
  await Deno.writeTextFile(lock, JSON.stringify(elsewhere));
  await assertRejects(
    () => claimRunFolder(dir),
    Error,
    `is in use by run pid ${pid} on not-${Deno.hostname()} since 2020-01-01T00:00:00.000Z`,
  );
  // A live process on this host (this one, as seen from a fresh token) is not stale either.
  await Deno.writeTextFile(lock, JSON.stringify({ ...stale, pid: Deno.pid }));
  await assertRejects(() => claimRunFolder(dir), Error, `in use by run pid ${Deno.pid}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a folder with a run is refused and left as it was; overwrite moves every entry aside", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":1}\n');
  await Deno.mkdir(`${dir}/checkpoint`);
  await Deno.writeTextFile(`${dir}/checkpoint/model.safetensors`, "weights");
  await Deno.writeTextFile(`${dir}/notes.txt`, "mine");
  await assertRejects(
    () => claimRunFolder(dir),
    Error,
    `Cannot start a run in ${dir}: it already holds one (metrics.jsonl, checkpoint/); continue it with resume (--resume), move it to ${dir}.old-<time>`,
  );
  assertEquals(await Deno.readTextFile(`${dir}/metrics.jsonl`), '{"step":1}\n');
  assertEquals(await exists(`${dir}/${RUN_LOCK}`), false);
  // resume expects the run: no refusal.
  (await claimRunFolder(dir, { resume: true })).release();
  const folder = await claimRunFolder(dir, { overwrite: true });
  const aside = folder.movedAside!;
  assert(aside.startsWith(`${dir}.old-`), aside);
  assertEquals(await Deno.readTextFile(`${aside}/metrics.jsonl`), '{"step":1}\n');
  assertEquals(await Deno.readTextFile(`${aside}/checkpoint/model.safetensors`), "weights");
  assertEquals(await Deno.readTextFile(`${aside}/notes.txt`), "mine");
  const left = [];
  for await (const entry of Deno.readDir(dir)) left.push(entry.name);
  assertEquals(left, [RUN_LOCK]);
  assertEquals(await exists(`${aside}/${RUN_LOCK}`), false);
  folder.release();
  await assertRejects(
    () => claimRunFolder(dir, { resume: true, overwrite: true }),
    RangeError,
    "give one of them",
  );
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(aside, { recursive: true });
});

Deno.test("OS errors name the run folder", async () => {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/file`, "");
  await assertRejects(
    () => claimRunFolder(`${root}/file`),
    Error,
    `Cannot create the run folder ${root}/file: it is a file, not a folder`,
  );
  await assertRejects(
    () => claimRunFolder(`${root}/file/run`),
    Error,
    `Cannot create the run folder ${root}/file/run: a part of the path is a file, not a folder`,
  );
  await Deno.remove(root, { recursive: true });
});
