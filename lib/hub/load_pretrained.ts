/**
 * `loadPretrained`: a Hugging Face checkpoint from a local folder or a Hub repo
 * `org/name[@revision]` (pulled once into the cache of `pullCheckpoint`), as a trainable policy
 * with its tokenizer. The folder itself is read by `loadPretrainedFolder` (lib/models).
 *
 * @module
 */
import { loadPretrainedFolder, type Pretrained } from "../models/pretrained.ts";
import { parseHubRef } from "./hub_ref.ts";
import { pullCheckpoint } from "./pull_checkpoint.ts";

/** Options of {@linkcode loadPretrained} for a Hub repo (ignored for a local folder). */
export interface LoadPretrainedOptions {
  /** Cache root (default as `pullCheckpoint`: `$TREPO_HUB_CACHE`, else `~/.cache/trepo/hub`). */
  cacheDir?: string;
  /** Hub base URL; default `$HF_ENDPOINT`, else `https://huggingface.co`. */
  hubUrl?: string;
  /** Access token for private repos (`hf_…`); default `$HF_TOKEN`. */
  token?: string;
  /** Use only the cache, never the network. */
  offline?: boolean;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
}

const HUB_REF = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(@[^\s]+)?$/;

/**
 * The local folder of a `loadPretrained` source: an existing folder as is; otherwise a string
 * of the form `org/name[@revision]` is pulled from the Hub into the cache (`pullCheckpoint`).
 */
async function resolveSource(source: string, options: LoadPretrainedOptions): Promise<string> {
  if (typeof source !== "string" || source === "") {
    throw new TypeError(
      `Cannot load the pretrained model: source must be a folder or "org/name[@revision]", got ${
        JSON.stringify(source)
      }`,
    );
  }
  try {
    if ((await Deno.stat(source)).isDirectory) return source;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!HUB_REF.test(source)) return source;
  const { repo, revision } = parseHubRef(source);
  return await pullCheckpoint(repo, { ...options, revision });
}

/**
 * Load a Hugging Face checkpoint, from a local folder or a Hub repo, as a trainable policy with
 * its tokenizer.
 *
 * `source` is a folder when one exists at that path; otherwise `org/name[@revision]` (branch,
 * tag or commit sha; default `main`) is downloaded once into the pull cache (`pullCheckpoint`:
 * keyed by commit sha, checked sizes and hashes, served from the cache afterwards) and loaded
 * from there with `loadPretrainedFolder`. The Hub is `options.hubUrl`, else `$HF_ENDPOINT`,
 * else huggingface.co.
 *
 * @param source A folder in the Hub layout, or a Hub repo `org/name[@revision]`.
 * @param options For a Hub repo: cacheDir, hubUrl, token, offline, fetch.
 * @returns The policy, tokenizer and config.
 * @throws {Error} As `loadPretrainedFolder` (naming the file and tensor).
 * @throws {HubError} When a Hub repo cannot be pulled (see `pullCheckpoint`).
 *
 * @example The GPT-2 test fixture (run from the repository root)
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { loadPretrained } from "./load_pretrained.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy, config } = await loadPretrained("tests/fixtures/hf/gpt2");
 * assertEquals(config.model_type, "gpt2");
 * policy.dispose();
 * ```
 */
export async function loadPretrained(
  source: string,
  options: LoadPretrainedOptions = {},
): Promise<Pretrained> {
  return await loadPretrainedFolder(await resolveSource(source, options));
}
