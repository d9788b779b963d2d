/**
 * Atomic directory commits: a directory of files is replaced all at once or not at all, and a
 * reader finds the last complete one even after a crash in the middle of a commit.
 *
 * The protocol ({@linkcode writeDirectoryAtomically}): the files are written and fsynced into a
 * sibling `.<name>.partial-<nonce>`, which is renamed `.<name>.staged-<nonce>` (complete); the
 * previous `<name>` (if any) is renamed aside to `.<name>.old-<nonce>`, the staged one renamed to
 * `<name>`, and the leftovers removed. The commit point is the rename of the previous directory
 * aside: while `<name>` exists it is the one to read; when it is missing (a crash between the two
 * renames) the newest staged sibling is, else the newest old one
 * ({@linkcode committedDirectory}). Partial siblings are never read. One writer per directory.
 *
 * @module
 */

/** `dir/name`, with `dir`'s trailing slashes dropped. */
export function joinPath(dir: string, name: string): string {
  return `${trimSlashes(dir)}/${name}`;
}

function trimSlashes(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, "");
  return trimmed === "" ? path.slice(0, 1) : trimmed;
}

function splitPath(dir: string): { parent: string; base: string } {
  const path = trimSlashes(dir);
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (i < 0) return { parent: ".", base: path };
  return { parent: i === 0 ? path.slice(0, 1) : path.slice(0, i), base: path.slice(i + 1) };
}

/**
 * Whether anything (a file, a folder, a link) is at `path`.
 *
 * @param path The path.
 * @returns `false` only when nothing is there; other I/O errors are thrown.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

let nonceCounter = 0;
function nonce(): string {
  nonceCounter++;
  return `${String(Date.now()).padStart(15, "0")}-${Deno.pid}-${nonceCounter}`;
}

type LeftoverKind = "partial" | "staged" | "old";

/** Sibling leftovers of interrupted commits, newest first within each kind. */
async function leftovers(dir: string): Promise<Record<LeftoverKind, string[]>> {
  const { parent, base } = splitPath(dir);
  const found: Record<LeftoverKind, string[]> = { partial: [], staged: [], old: [] };
  try {
    for await (const entry of Deno.readDir(parent)) {
      for (const kind of ["partial", "staged", "old"] as const) {
        if (entry.isDirectory && entry.name.startsWith(`.${base}.${kind}-`)) {
          found[kind].push(entry.name);
        }
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const kind of ["partial", "staged", "old"] as const) {
    found[kind] = found[kind].sort().reverse().map((name) => joinPath(parent, name));
  }
  return found;
}

async function syncPath(path: string): Promise<void> {
  // Best effort: directories cannot be opened for fsync on every platform.
  try {
    const file = await Deno.open(path, { read: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
  } catch {
    // ignore
  }
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Write a directory of files atomically (the protocol of this module): a crash at any point
 * leaves either the previous directory or the new one readable through
 * {@linkcode committedDirectory}. A non-empty existing directory without the `marker` file is
 * never replaced.
 *
 * Used by `saveCheckpoint`, `savePretrained` and `saveAdapter`.
 *
 * @param dir The target directory.
 * @param files File name → bytes.
 * @param context The failed operation, for error messages.
 * @param marker The file that makes an existing directory one of ours, safe to replace
 *   (default `config.json`).
 * @throws {Error} When `dir` exists and is not one of ours, or on I/O errors.
 *
 * @example Replace a directory, then read it back
 * ```ts
 * import { committedDirectory, writeDirectoryAtomically } from "./atomic_directory.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const root = await Deno.makeTempDir();
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * await writeDirectoryAtomically(`${root}/run`, new Map([["config.json", bytes("{}")]]), "Cannot save");
 * await writeDirectoryAtomically(`${root}/run`, new Map([["config.json", bytes("[1]")]]), "Cannot save");
 * const dir = await committedDirectory(`${root}/run`, "Cannot load");
 * assertEquals(await Deno.readTextFile(`${dir}/config.json`), "[1]");
 * assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["run"]); // no leftovers
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function writeDirectoryAtomically(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  context: string,
  marker: string = "config.json",
): Promise<void> {
  const commit = commitDirectory(dir, files, context, marker);
  inFlight.add(commit);
  const forget = () => inFlight.delete(commit);
  commit.then(forget, forget);
  return commit;
}

/** The commits started and not yet ended, for {@linkcode commitsSettled}. */
const inFlight = new Set<Promise<void>>();

/**
 * Resolves once every commit in flight now has ended (committed or failed). A signal handler
 * awaits it before `Deno.exit`, so that an interrupted process never stops in the middle of a
 * commit's renames and the directory it reports is the one on disk.
 *
 * @example
 * ```ts
 * import { commitsSettled } from "./atomic_directory.ts";
 *
 * await commitsSettled(); // nothing in flight: resolves at once
 * ```
 */
export async function commitsSettled(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

async function commitDirectory(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  context: string,
  marker: string,
): Promise<void> {
  // Refuse to replace something that is not ours.
  const target = trimSlashes(dir);
  if (await exists(target)) {
    const stat = await Deno.stat(target);
    let empty = true;
    if (stat.isDirectory) { for await (const _ of Deno.readDir(target)) empty = false; }
    if (!stat.isDirectory || (!empty && !(await exists(joinPath(target, marker))))) {
      throw new Error(
        `${context}: ${
          JSON.stringify(target)
        } exists and is not a checkpoint (no ${marker}); refusing to replace it`,
      );
    }
  }
  const { parent, base } = splitPath(target);
  await Deno.mkdir(parent, { recursive: true });
  const id = nonce();
  const partial = joinPath(parent, `.${base}.partial-${id}`);
  const staged = joinPath(parent, `.${base}.staged-${id}`);
  const old = joinPath(parent, `.${base}.old-${id}`);
  await Deno.mkdir(partial);
  try {
    for (const [name, bytes] of files) await writeSynced(joinPath(partial, name), bytes);
    await syncPath(partial);
    await Deno.rename(partial, staged);
  } catch (error) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw error;
  }
  await syncPath(parent);
  const hadPrevious = await exists(target);
  if (hadPrevious) await Deno.rename(target, old);
  await Deno.rename(staged, target);
  await syncPath(parent);
  // Clean up: the replaced directory and leftovers of earlier interrupted commits.
  const left = await leftovers(target);
  for (const path of [...left.old, ...left.staged, ...left.partial]) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/**
 * The directory a reader should open for `dir`: `dir` itself when it holds `marker`, else (a
 * commit interrupted between its renames) the newest `.<name>.staged-*` sibling holding it, else
 * the newest `.<name>.old-*` one. Nothing on disk is changed.
 *
 * Used by `loadCheckpoint` and `checkpointFiles`.
 *
 * @param dir The directory written by {@linkcode writeDirectoryAtomically}.
 * @param context The failed operation, for error messages.
 * @param marker The file a complete directory holds (default `config.json`).
 * @returns The path to read, without trailing slashes.
 * @throws {Error} `<context>: <dir>/<marker> is missing` when `dir` exists without it and no
 *   sibling has it; `<context>: "<dir>" does not exist` when there is nothing at all.
 *
 * @example
 * ```ts
 * import { committedDirectory } from "./atomic_directory.ts";
 * import { assertRejects } from "@std/assert";
 *
 * const root = await Deno.makeTempDir();
 * await assertRejects(() => committedDirectory(`${root}/none`, "Cannot load"), Error, "does not exist");
 * await Deno.remove(root);
 * ```
 */
export async function committedDirectory(
  dir: string,
  context: string,
  marker: string = "config.json",
): Promise<string> {
  const target = trimSlashes(dir);
  if (await exists(joinPath(target, marker))) return target;
  const left = await leftovers(target);
  for (const candidate of [...left.staged, ...left.old]) {
    if (await exists(joinPath(candidate, marker))) return candidate;
  }
  if (await exists(target)) throw new Error(`${context}: ${joinPath(target, marker)} is missing`);
  throw new Error(`${context}: ${JSON.stringify(dir)} does not exist`);
}
