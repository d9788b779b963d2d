/**
 * A run folder holds one run: `claimRunFolder` takes a lock on it (so that a second run started
 * on it refuses at once), refuses a folder that already holds a run unless the run is resumed or
 * moved aside, and wraps the operating system's errors in messages that name the folder.
 *
 * @module
 */
import { describe } from "../validate.ts";

/** The lock file inside a run folder. */
export const RUN_LOCK = ".lock";

/** The entries that make a folder hold a run (any one of them is enough). */
export const RUN_ENTRIES: readonly string[] = Object.freeze([
  "run.json",
  "metrics.jsonl",
  "checkpoint",
  "reference",
  "sft",
]);

/** What the lock file of a run folder says about the run that holds it. */
export interface RunLockHolder {
  /** Process id of the run. */
  pid: number;
  /** Host name of the machine the run is on. */
  host: string;
  /** When the run took the lock (ISO 8601). */
  started: string;
  /** A value unique to this claim, so that a release never removes another claim's lock. */
  token: string;
}

/** A run folder claimed by {@linkcode claimRunFolder}: locked until `release` is called. */
export interface RunFolder {
  /** The folder. */
  readonly path: string;
  /** Where an earlier run was moved to (`overwrite`), if one was. */
  readonly movedAside: string | undefined;
  /**
   * Remove the lock (synchronous, so that a signal handler can call it before exiting); when the
   * claim created the folder and nothing was written into it, the folder goes too. Calling it
   * again does nothing.
   */
  release(): void;
}

/** Options of {@linkcode claimRunFolder}. */
export interface ClaimRunFolderOptions {
  /** The run continues the one in the folder: an existing run is expected, not refused. */
  resume?: boolean;
  /**
   * An existing run is moved aside to `<path>.old-<time>` (every entry of the folder goes there;
   * nothing is deleted) and the folder starts empty.
   */
  overwrite?: boolean;
}

/**
 * Claim a folder for one run: create it, take its lock file `<path>/.lock` (process id, host and
 * start time), and check that it holds no run (`run.json`, `metrics.jsonl`, `checkpoint/`,
 * `reference/` or `sft/`) unless `resume` is set; with `overwrite`, an existing run is moved to
 * `<path>.old-<time>` first. A lock whose holder has died on this host (its process id is gone) is
 * stale and taken over; any other lock refuses the claim at once.
 *
 * Used by `train` (when given a path) and by the `train` command, which claims the folder before
 * its supervised warm start writes into it.
 *
 * @param path The run folder (created with its parents when missing).
 * @param options `resume` or `overwrite` (not both).
 * @returns The claimed folder; call `release()` on every exit.
 * @throws {Error} When the folder is in use by another run ("… is in use by run pid N since …"),
 *   already holds a run, is a file, or cannot be created.
 *
 * @example A second claim on a locked folder refuses; after release it succeeds
 * ```ts
 * import { claimRunFolder } from "./run_folder.ts";
 * import { assertRejects } from "@std/assert";
 *
 * const dir = `${await Deno.makeTempDir()}/run`;
 * const first = await claimRunFolder(dir);
 * await assertRejects(() => claimRunFolder(dir), Error, `${dir} is in use by run pid ${Deno.pid}`);
 * first.release();
 * (await claimRunFolder(dir)).release();
 * ```
 */
export async function claimRunFolder(
  path: string,
  options: ClaimRunFolderOptions = {},
): Promise<RunFolder> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `Cannot claim the run folder: path must be a non-empty string, got ${describe(path)}`,
    );
  }
  if (options.resume === true && options.overwrite === true) {
    throw new RangeError(
      `Cannot claim the run folder ${path}: resume (--resume) continues the run in it and overwrite (--overwrite) moves it aside; give one of them`,
    );
  }
  const created = await createFolder(path);
  const lockPath = `${path}/${RUN_LOCK}`;
  const holder = await takeLock(path, lockPath);
  let movedAside: string | undefined;
  let released = false;
  const folder: RunFolder = {
    path,
    get movedAside() {
      return movedAside;
    },
    release() {
      if (released) return;
      released = true;
      releaseLock(lockPath, holder.token);
      if (created) {
        try {
          Deno.removeSync(path); // only when empty
        } catch {
          // Something was written: the folder stays.
        }
      }
    },
  };
  try {
    if (options.resume !== true) {
      const found = await runEntries(path);
      if (found.length > 0 && options.overwrite === true) {
        movedAside = await moveAside(path, holder.started);
      } else if (found.length > 0) {
        throw new Error(
          `Cannot start a run in ${path}: it already holds one (${
            found.join(", ")
          }); continue it with resume (--resume), move it to ${path}.old-<time> and start afresh with overwrite (--overwrite), or choose another folder (--out)`,
        );
      }
    }
  } catch (error) {
    folder.release();
    throw error;
  }
  return folder;
}

/**
 * Read the lock file of a run folder.
 *
 * @param path The run folder.
 * @returns The holder, or `undefined` when the folder has no lock (or one that cannot be read).
 *
 * @example
 * ```ts
 * import { claimRunFolder, readRunLock } from "./run_folder.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const folder = await claimRunFolder(dir);
 * assertEquals((await readRunLock(dir))?.pid, Deno.pid);
 * folder.release();
 * assertEquals(await readRunLock(dir), undefined);
 * ```
 */
export async function readRunLock(path: string): Promise<RunLockHolder | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${path}/${RUN_LOCK}`);
  } catch {
    return undefined;
  }
  return parseHolder(text);
}

function parseHolder(text: string): RunLockHolder | undefined {
  try {
    const raw = JSON.parse(text) as Partial<RunLockHolder>;
    if (
      typeof raw.pid === "number" && typeof raw.host === "string" &&
      typeof raw.started === "string" && typeof raw.token === "string"
    ) {
      return { pid: raw.pid, host: raw.host, started: raw.started, token: raw.token };
    }
  } catch {
    // Not JSON: unreadable.
  }
  return undefined;
}

/** Create the folder (and its parents); `true` when it did not exist. OS errors name it. */
async function createFolder(path: string): Promise<boolean> {
  const context = `Cannot create the run folder ${path}`;
  try {
    const info = await Deno.stat(path);
    if (!info.isDirectory) {
      throw new Error(`${context}: it is a file, not a folder; choose another folder (--out)`);
    }
    return false;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw wrapOsError(context, error);
  }
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory) {
      throw new Error(`${context}: a part of the path is a file, not a folder`);
    }
    throw wrapOsError(context, error);
  }
  return true;
}

function wrapOsError(context: string, error: unknown): Error {
  if (error instanceof Error && error.message.startsWith("Cannot ")) return error;
  if (error instanceof Deno.errors.PermissionDenied) {
    return new Error(`${context}: permission denied`);
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return new Error(`${context}: a part of the path is a file, not a folder`);
  }
  return new Error(`${context}: ${error instanceof Error ? error.message : String(error)}`);
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown host";
  }
}

let claims = 0;

/**
 * Take the lock: the holder is written to a private file first, then hard-linked to the lock
 * path, which fails atomically when a lock exists (so a reader never sees a half-written lock).
 */
async function takeLock(path: string, lockPath: string): Promise<RunLockHolder> {
  const context = `Cannot start the run in ${path}`;
  const holder: RunLockHolder = {
    pid: Deno.pid,
    host: hostName(),
    started: new Date().toISOString(),
    token: `${Deno.pid}-${Date.now()}-${++claims}-${Math.random().toString(36).slice(2)}`,
  };
  const staged = `${lockPath}.${holder.token}`;
  try {
    await Deno.writeTextFile(staged, JSON.stringify(holder) + "\n");
  } catch (error) {
    throw wrapOsError(`${context}: cannot write its lock file`, error);
  }
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await Deno.link(staged, lockPath);
        return holder;
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          throw wrapOsError(`${context}: cannot take its lock ${lockPath}`, error);
        }
      }
      const current = await Deno.readTextFile(lockPath).catch(() => "");
      const other = parseHolder(current);
      if (other !== undefined && !isStale(other)) {
        throw new Error(
          `Cannot start the run: ${path} is in use by run pid ${other.pid}${
            other.host === holder.host ? "" : ` on ${other.host}`
          } since ${other.started}; wait for it to end, or remove ${lockPath} if that run is gone`,
        );
      }
      if (other === undefined && current !== "") {
        throw new Error(
          `${context}: its lock ${lockPath} cannot be read; remove it if no run is using ${path}`,
        );
      }
      // A stale lock (its holder died on this host): take it over.
      await Deno.remove(lockPath).catch(() => {});
    }
    throw new Error(`${context}: another run took its lock ${lockPath} at the same time`);
  } finally {
    await Deno.remove(staged).catch(() => {});
  }
}

/** A lock is stale when it was taken on this host by a process that no longer exists. */
function isStale(holder: RunLockHolder): boolean {
  if (holder.host !== hostName()) return false;
  if (holder.pid === Deno.pid) return false;
  return !processAlive(holder.pid);
}

/** Whether a process id exists on this host (`/proc` on Linux, else `kill -0`; unknown = alive). */
function processAlive(pid: number): boolean {
  try {
    Deno.statSync("/proc/self");
  } catch {
    try {
      const { code } = new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" })
        .outputSync();
      return code === 0;
    } catch {
      return true;
    }
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Remove the lock if it is still this claim's. */
function releaseLock(lockPath: string, token: string): void {
  try {
    if (parseHolder(Deno.readTextFileSync(lockPath))?.token === token) Deno.removeSync(lockPath);
  } catch {
    // Already gone.
  }
}

/** The run entries present in the folder. */
async function runEntries(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of RUN_ENTRIES) {
    try {
      const info = await Deno.stat(`${path}/${name}`);
      found.push(info.isDirectory ? `${name}/` : name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw wrapOsError(`Cannot read the run folder ${path}`, error);
      }
    }
  }
  return found;
}

/** Move every entry but the lock to `<path>.old-<time>`; returns that folder. */
async function moveAside(path: string, started: string): Promise<string> {
  const stamp = started.replace(/[:.]/g, "-");
  let aside = `${path}.old-${stamp}`;
  for (let n = 2; await Deno.stat(aside).then(() => true, () => false); n++) {
    aside = `${path}.old-${stamp}-${n}`;
  }
  const context = `Cannot move the earlier run in ${path} to ${aside}`;
  try {
    await Deno.mkdir(aside);
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
    for (const name of names) {
      if (name === RUN_LOCK || name.startsWith(`${RUN_LOCK}.`)) continue;
      await Deno.rename(`${path}/${name}`, `${aside}/${name}`);
    }
  } catch (error) {
    throw wrapOsError(context, error);
  }
  return aside;
}
