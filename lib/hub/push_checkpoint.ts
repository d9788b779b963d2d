/**
 * Upload a checkpoint directory to a Hugging Face Hub model repo.
 *
 * @module
 */

import { createRepo, uploadFiles } from "@huggingface/hub";
import { HubError, hubFailure } from "./hub_error.ts";
import { resolveHubUrl, resolveToken } from "./hub_config.ts";
import { checkRepoName } from "./hub_ref.ts";
import { checkpointModelCard } from "./model_card.ts";

/** Options of {@link pushCheckpoint}. */
export interface PushCheckpointOptions {
  /** Target model repo, `namespace/name`; created (public unless `private`) if missing. */
  repo: string;
  /** Access token with write access (`hf_…`); defaults to `$HF_TOKEN`. Sent only as a header. */
  token?: string;
  /** Hub base URL; defaults to `$HF_ENDPOINT` or `https://huggingface.co`. */
  hubUrl?: string;
  /** Commit title; default `Upload trepo checkpoint (N files)`. */
  commitMessage?: string;
  /** Branch to commit to; default `"main"`. */
  branch?: string;
  /** Create the repo private; default false (only applies when the repo is created). */
  private?: boolean;
  /**
   * Upload large files with the Hub's Xet protocol instead of plain LFS; default false (the
   * LFS path is the one exercised by the tests against a local Hub-compatible server).
   */
  useXet?: boolean;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
}

/** Result of {@link pushCheckpoint}. */
export interface PushCheckpointResult {
  /** `namespace/name`. */
  repo: string;
  /** Commit sha of the upload: pass it as `revision` to pull exactly these bytes back. */
  commit: string;
  /** URL of the commit on the Hub. */
  url: string;
  /** Paths uploaded, sorted (including README.md). */
  files: string[];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined; // absent or not JSON: the card simply leaves that section out
  }
}

/**
 * Uploads every regular file of a checkpoint directory (`config.json`, `model.safetensors`,
 * optional `value_model.safetensors`, `optimizer.safetensors`, `trainer_state.json`, …) to a
 * model repo in one commit, with a generated `README.md` model card (kept as is when the
 * directory has its own README.md). The repo is created first when it does not exist.
 * Subdirectories and symlinks are skipped.
 *
 * Large binary files go through the Hub's LFS upload path, chosen by the server.
 *
 * Preconditions: `dir` is a directory holding at least one regular file; the token has write
 * access to the namespace.
 *
 * @param dir Path of the checkpoint directory.
 * @param options Repo, token, hubUrl, commit message.
 * @returns The commit sha and the uploaded paths.
 * @throws {TypeError} When `repo` is not `namespace/name` or the token does not start with `hf_`.
 * @throws {HubError} When the directory cannot be read, or the Hub refuses (401: check the
 *   token has write access; 404: check the repo name; 5xx: retry later).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pushCheckpoint } from "./push_checkpoint.ts";
 * import { startFakeHub } from "../../tests/hub/fake_hub.ts";
 *
 * const hub = startFakeHub(); // a local Hub-compatible server; accepts token "hf_test_write"
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, '{"vocabSize":16}');
 * const result = await pushCheckpoint(dir, {
 *   repo: "me/tiny",
 *   token: "hf_test_write",
 *   hubUrl: hub.url,
 * });
 * assertEquals(result.files, ["README.md", "config.json"]);
 * assertEquals(result.commit, hub.history("me/tiny")[0]);
 * await hub.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function pushCheckpoint(
  dir: string,
  options: PushCheckpointOptions,
): Promise<PushCheckpointResult> {
  const repo = checkRepoName("Cannot push checkpoint", options?.repo);
  const action = `Cannot push checkpoint to ${repo}`;
  const hubUrl = resolveHubUrl(options.hubUrl);
  const token = resolveToken(options.token);
  if (token === undefined) {
    throw new HubError(
      `${action}: no access token; pass token (one with write access) or set HF_TOKEN`,
      { kind: "unauthorized" },
    );
  }
  if (!token.startsWith("hf_")) {
    throw new TypeError(`${action}: the access token must start with "hf_"`);
  }

  const files: { path: string; content: Blob }[] = [];
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new Error("not a directory");
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile) continue;
      files.push({
        path: entry.name,
        content: new Blob([await Deno.readFile(`${dir}/${entry.name}`)]),
      });
    }
  } catch (error) {
    throw new HubError(
      `${action}: cannot read checkpoint directory "${dir}" (${(error as Error).message})`,
      { kind: "other" },
    );
  }
  if (files.length === 0) {
    throw new HubError(`${action}: checkpoint directory "${dir}" has no files`, { kind: "other" });
  }
  if (!files.some((f) => f.path === "README.md")) {
    const names = files.map((f) => f.path).sort();
    const card = checkpointModelCard({
      repo,
      config: await readJson(`${dir}/config.json`),
      trainerState: await readJson(`${dir}/trainer_state.json`),
      files: names,
    });
    files.push({ path: "README.md", content: new Blob([card]) });
  }
  files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

  const context = { action, repo, write: true, token, hubUrl };
  try {
    await createRepo({
      repo: { type: "model", name: repo },
      accessToken: token,
      hubUrl,
      fetch: options.fetch,
      ...(options.private === undefined
        ? {}
        : { visibility: options.private ? "private" : "public" }),
    });
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 409) throw hubFailure(error, context); // 409: the repo already exists
  }
  let output;
  try {
    output = await uploadFiles({
      repo: { type: "model", name: repo },
      accessToken: token,
      hubUrl,
      fetch: options.fetch,
      branch: options.branch,
      files,
      useXet: options.useXet ?? false,
      commitTitle: options.commitMessage ?? `Upload trepo checkpoint (${files.length} files)`,
    });
  } catch (error) {
    throw hubFailure(error, { ...context, revision: options.branch });
  }
  if (!output?.commit?.oid) {
    throw new HubError(`${action}: the Hub did not return a commit id`, { kind: "other" });
  }
  return {
    repo,
    commit: output.commit.oid,
    url: output.commit.url,
    files: files.map((f) => f.path),
  };
}
