/**
 * trepo: reinforcement learning of language-model policies from response-level rewards.
 *
 * Composable primitives (sample → score → advantage → loss) over tfjs tensors, and the
 * algorithms compared in "Response-Level Rewards Are All You Need for Online Reinforcement
 * Learning in LLMs" (arXiv 2506.02553): PPO, GRPO, ReMax, RLOO, REINFORCE and TRePO.
 *
 * @example Seeded randomness and a backend
 * ```ts
 * import { initBackend, Random, tf } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rng = new Random(1);
 * assertEquals(rng.int(6) < 6, true);
 * assertEquals(tf.getBackend(), "cpu");
 * ```
 *
 * @module
 */
import * as tfjs from "@tensorflow/tfjs";

/** The tfjs namespace trepo uses; share it so that tensors come from one tfjs instance. */
export const tf: typeof tfjs = tfjs;
export {
  type BackendInfo,
  type BackendName,
  BACKENDS,
  initBackend,
  type InitBackendOptions,
} from "./lib/backend.ts";
export { Random, type RandomState } from "./lib/random.ts";
