/**
 * Download a checkpoint from a Hugging Face Hub model repo into a local cache.
 *
 * @module
 */

import { downloadFile, listFiles, modelInfo } from "@huggingface/hub";
import { dirname, join } from "node:path";
import { HubError, hubFailure, type HubFailureContext, redactToken } from "./hub_error.ts";
import { resolveHubUrl, resolveToken } from "./hub_config.ts";
import { checkRepoName } from "./hub_ref.ts";

/** Options of {@link pullCheckpoint}. */
export interface PullCheckpointOptions {
  /** Branch, tag or commit sha; default `"main"`. */
  revision?: string;
  /**
   * Cache root; default `$TREPO_HUB_CACHE`, else `$XDG_CACHE_HOME/trepo/hub`, else
   * `$HOME/.cache/trepo/hub` (else `.cache/trepo/hub` under the working directory).
   */
  cacheDir?: string;
  /** Access token for private repos (`hf_…`); defaults to `$HF_TOKEN`. Sent only as a header. */
  token?: string;
  /** Hub base URL; defaults to `$HF_ENDPOINT` or `https://huggingface.co`. */
  hubUrl?: string;
  /** Use only the cache, never the network; fails clearly when the revision is not cached. */
  offline?: boolean;
  /** Resolve the revision on the Hub again even when it is cached (to pick up new commits). */
  refresh?: boolean;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
}

interface ManifestEntry {
  path: string;
  size: number;
}

const SHA = /^[0-9a-f]{40}$/;

function envVar(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    const value = Deno.env.get(name);
    return value === "" ? undefined : value;
  } catch {
    return undefined;
  }
}

function defaultCacheDir(): string {
  const explicit = envVar("TREPO_HUB_CACHE");
  if (explicit !== undefined) return explicit;
  const base = envVar("XDG_CACHE_HOME") ??
    (envVar("HOME") === undefined ? join(Deno.cwd(), ".cache") : join(envVar("HOME")!, ".cache"));
  return join(base, "trepo", "hub");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `text` to `path` atomically (temp file in `tmpDir`, then rename). */
async function writeAtomic(tmpDir: string, path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = join(tmpDir, `${crypto.randomUUID()}.tmp`);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** The snapshot directory of `sha` when it is complete in the cache (all files, right sizes). */
async function completeSnapshot(repoDir: string, sha: string): Promise<string | undefined> {
  let manifest: ManifestEntry[];
  try {
    manifest = JSON.parse(await Deno.readTextFile(join(repoDir, "complete", `${sha}.json`)));
  } catch {
    return undefined;
  }
  const snapshot = join(repoDir, "snapshots", sha);
  for (const entry of manifest) {
    if (await fileSize(join(snapshot, entry.path)) !== entry.size) return undefined;
  }
  return snapshot;
}

/** The commit sha a cached revision points at, without the network. */
async function cachedSha(repoDir: string, revision: string): Promise<string | undefined> {
  if (SHA.test(revision)) return revision;
  try {
    const sha = (await Deno.readTextFile(join(repoDir, "refs", encodeURIComponent(revision))))
      .trim();
    return SHA.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

function checkRelativePath(action: string, path: string): void {
  const parts = path.split("/");
  if (
    path.startsWith("/") || path.includes("\\") ||
    parts.some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new HubError(`${action}: the Hub listed an unsafe file path "${path}"`, {
      kind: "integrity",
    });
  }
}

async function digestHex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Checks the downloaded bytes against the listing's git blob id (SHA-1) or LFS id (SHA-256). */
async function contentMatches(path: string, oid: string | undefined, lfsOid: string | undefined) {
  if (lfsOid === undefined && oid === undefined) return true;
  const bytes = await Deno.readFile(path);
  if (lfsOid !== undefined) return await digestHex("SHA-256", bytes) === lfsOid;
  const header = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(header.length + bytes.length);
  all.set(header);
  all.set(bytes, header.length);
  return await digestHex("SHA-1", all) === oid;
}

/**
 * Downloads the checkpoint files of a model repo at a revision into a local cache and returns
 * the directory holding them (ready for `loadCheckpoint`).
 *
 * The cache is keyed by repo and commit sha: `<cacheDir>/models--{ns}--{name}/snapshots/{sha}/`,
 * with `refs/{revision}` holding the sha a branch or tag resolved to and `complete/{sha}.json`
 * listing the files and sizes once every file is in place. A revision already cached is served
 * without any request (pass `refresh: true` to re-resolve a branch); a commit sha is immutable.
 *
 * Each file is streamed to a temporary file, its size (and git/LFS hash) checked against the
 * Hub's listing, then renamed into place, so an interrupted download never leaves a corrupt
 * entry: the next call downloads what is missing.
 *
 * Preconditions: the repo exists and the token (if any) may read it.
 *
 * @param repo Model repo `namespace/name`.
 * @param options Revision, cacheDir, token, hubUrl, offline, refresh.
 * @returns Path of the local snapshot directory.
 * @throws {TypeError} When `repo` is not `namespace/name`.
 * @throws {HubError} When offline and not cached; on 401 (check the token), 404 (check the repo
 *   name and revision), 5xx (retry later); when a download is interrupted or does not match
 *   the listing (run again).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pullCheckpoint } from "./pull_checkpoint.ts";
 * import { startFakeHub } from "../../tests/hub/fake_hub.ts";
 *
 * const hub = startFakeHub(); // a local Hub-compatible server
 * await hub.seed("me/tiny", { "config.json": '{"vocabSize":16}' });
 * const cacheDir = await Deno.makeTempDir();
 * const dir = await pullCheckpoint("me/tiny", { cacheDir, hubUrl: hub.url });
 * assertEquals(await Deno.readTextFile(`${dir}/config.json`), '{"vocabSize":16}');
 * const before = hub.requests.length;
 * await pullCheckpoint("me/tiny", { cacheDir, hubUrl: hub.url }); // served from the cache
 * assertEquals(hub.requests.length, before);
 * await hub.close();
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function pullCheckpoint(
  repo: string,
  options: PullCheckpointOptions = {},
): Promise<string> {
  checkRepoName("Cannot pull checkpoint", repo);
  const revision = options.revision ?? "main";
  if (typeof revision !== "string" || revision === "") {
    throw new TypeError(`Cannot pull checkpoint ${repo}: revision must be a non-empty string`);
  }
  const action = `Cannot pull checkpoint ${repo}@${revision}`;
  const [namespace, name] = repo.split("/");
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const repoDir = join(cacheDir, `models--${namespace}--${name}`);

  const knownSha = await cachedSha(repoDir, revision);
  const cached = knownSha === undefined ? undefined : await completeSnapshot(repoDir, knownSha);
  if (cached !== undefined && (!options.refresh || options.offline)) return cached;
  if (options.offline) {
    throw new HubError(
      `${action}: offline and not in the cache at ${repoDir}; ` +
        `run once without offline to download it`,
      { kind: "offline" },
    );
  }

  const hubUrl = resolveHubUrl(options.hubUrl);
  const token = resolveToken(options.token);
  if (token !== undefined && !token.startsWith("hf_")) {
    throw new TypeError(`${action}: the access token must start with "hf_"`);
  }
  const context: HubFailureContext = { action, repo, revision, write: false, token, hubUrl };
  const access = { repo: { type: "model" as const, name: repo }, hubUrl, fetch: options.fetch };
  const credentials = token === undefined ? {} : { accessToken: token };

  let sha: string;
  const entries: { path: string; size: number; oid?: string; lfsOid?: string }[] = [];
  try {
    if (SHA.test(revision)) {
      sha = revision;
    } else {
      const info = await modelInfo({
        name: repo,
        revision,
        hubUrl,
        fetch: options.fetch,
        additionalFields: ["sha"],
        ...credentials,
      });
      sha = String((info as { sha?: unknown }).sha ?? "");
      if (!SHA.test(sha)) {
        throw new HubError(`${action}: the Hub did not return a commit sha for the revision`, {
          kind: "other",
        });
      }
    }
    for await (
      const entry of listFiles({ ...access, ...credentials, revision: sha, recursive: true })
    ) {
      if (entry.type !== "file") continue;
      checkRelativePath(action, entry.path);
      entries.push({
        path: entry.path,
        size: entry.lfs?.size ?? entry.size,
        oid: entry.oid,
        lfsOid: entry.lfs?.oid,
      });
    }
  } catch (error) {
    throw hubFailure(error, context);
  }

  const snapshot = join(repoDir, "snapshots", sha);
  const tmpDir = join(repoDir, "tmp");
  await Deno.mkdir(tmpDir, { recursive: true });
  if (await completeSnapshot(repoDir, sha) === undefined) {
    for (const entry of entries) {
      const target = join(snapshot, entry.path);
      // Files only appear under snapshots/ after a verified download, so a right-size one is done.
      if (await fileSize(target) === entry.size) continue;
      const open = () =>
        downloadFile({ ...access, ...credentials, path: entry.path, revision: sha, xet: false });
      await downloadOne(entry, { target, tmpDir, sha, context, open });
    }
    const manifest: ManifestEntry[] = entries.map(({ path, size }) => ({ path, size }));
    await Deno.mkdir(snapshot, { recursive: true });
    await writeAtomic(tmpDir, join(repoDir, "complete", `${sha}.json`), JSON.stringify(manifest));
  }
  if (!SHA.test(revision)) {
    await writeAtomic(tmpDir, join(repoDir, "refs", encodeURIComponent(revision)), sha);
  }
  if (!(await exists(snapshot))) await Deno.mkdir(snapshot, { recursive: true });
  return snapshot;
}

/** Streams one file to a temp file, verifies it against the listing, renames it into place. */
async function downloadOne(
  entry: { path: string; size: number; oid?: string; lfsOid?: string },
  where: {
    target: string;
    tmpDir: string;
    sha: string;
    context: HubFailureContext;
    open: () => Promise<Blob | null>;
  },
): Promise<void> {
  const { target, tmpDir, sha, context, open } = where;
  const action = context.action;
  let blob: Blob | null;
  try {
    blob = await open();
  } catch (error) {
    throw hubFailure(error, context);
  }
  if (blob === null) {
    throw new HubError(
      `${action}: ${entry.path} is listed at commit ${sha} but could not be found; run again`,
      { kind: "integrity", status: 404 },
    );
  }
  const tmp = join(tmpDir, `${crypto.randomUUID()}.part`);
  try {
    try {
      const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      await blob.stream().pipeTo(file.writable);
    } catch (error) {
      const reason = redactToken(
        error instanceof Error ? error.message : String(error),
        context.token,
      );
      throw new HubError(
        `${action}: the download of ${entry.path} was interrupted (${reason}); ` +
          `the partial file was discarded, run again to resume`,
        { kind: "interrupted" },
      );
    }
    const size = await fileSize(tmp);
    if (size !== entry.size) {
      throw new HubError(
        `${action}: ${entry.path} has ${size} bytes but the Hub lists ${entry.size}; ` +
          `the file was discarded, run again`,
        { kind: "integrity" },
      );
    }
    if (!(await contentMatches(tmp, entry.oid, entry.lfsOid))) {
      throw new HubError(
        `${action}: ${entry.path} does not match the hash the Hub lists; ` +
          `the file was discarded, run again`,
        { kind: "integrity" },
      );
    }
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.rename(tmp, target);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
