/**
 * Where step 1 ("sample"), ReMax's greedy baseline and TRePO's continuations come from: the local
 * policy, or an inference server (`remoteSampler`). Every recipe decodes through a
 * {@linkcode Sampler}; the default is {@linkcode localSampler}.
 *
 * @module
 */
import type { Policy } from "../policy/transformer.ts";
import {
  type Continuations,
  continueFrom,
  type ContinueFromOptions,
  type Prefix,
} from "./continue_from.ts";
import { greedy, type GreedyOptions } from "./greedy.ts";
import type { Rollout } from "./rollout.ts";
import { sample, type SampleOptions } from "./sample.ts";

/**
 * The contract of `sample`, `greedy` and `continueFrom`, as one object. A sampler that does not run the
 * local policy (a server) ignores the `policy` argument and sets `remote`: its log-probs come from
 * another copy of the weights, so the steps recompute the "old" log-probs with the local policy
 * and report the gap.
 */
export interface Sampler {
  /** Names the sampler in metrics and errors (`"local"`, or the server and model). */
  readonly name: string;
  /** Whether the log-probs come from weights other than the local policy's (a server). */
  readonly remote: boolean;
  /** `G` responses per prompt, as {@linkcode sample} (same options, same `Rollout`). */
  sample(policy: Policy, prompts: number[][], options: SampleOptions): Promise<Rollout>;
  /**
   * One argmax response per prompt, as {@linkcode greedy} (same options, a `Rollout` of `N` rows,
   * `groupSize` 1): ReMax's baseline. A server decodes at temperature 0.
   */
  greedy(policy: Policy, prompts: number[][], options: GreedyOptions): Promise<Rollout>;
  /** `K` continuations of each prefix, as {@linkcode continueFrom}. */
  continueFrom(
    policy: Policy,
    rollout: Rollout,
    prefixes: Prefix[],
    options: ContinueFromOptions,
  ): Promise<Continuations>;
  /**
   * Called by `train` once before the first step: a server sampler refuses a server whose model
   * does not match the local policy (vocabulary size, EOS, context length).
   */
  check?(policy: Policy, eosToken: number): Promise<void>;
  /**
   * Called by `train` before the first step and after every update (`step` is the number of
   * updates the policy has had): a server sampler puts the weights on the server (a LoRA adapter
   * under a new name) so the next step samples from the current policy.
   */
  syncWeights?(policy: Policy, step: number): Promise<void>;
}

/** The local policy: {@linkcode sample}, {@linkcode greedy} and {@linkcode continueFrom} themselves. */
export const localSampler: Sampler = Object.freeze({
  name: "local",
  remote: false,
  sample,
  greedy,
  continueFrom,
});
