/**
 * A small seeded pseudo-random number generator (xoshiro128**), used for every random choice
 * in trepo so that runs are reproducible bit for bit and resumable from a saved state.
 *
 * @module
 */

/** The serialisable state of a {@linkcode Random}: four unsigned 32-bit words. */
export interface RandomState {
  /** The algorithm, for forward compatibility of saved states. */
  algorithm: "xoshiro128**";
  /** The four state words, each in [0, 2³²). */
  words: [number, number, number, number];
}

/** One step of splitmix32, used to expand a seed into a full state. */
function splitmix32(x: number): [number, number] {
  const next = (x + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The xoshiro128** generator (Blackman and Vigna): 128 bits of state, period 2¹²⁸ − 1.
 *
 * Every sampler in trepo takes a seed or a `Random`; the same seed gives the same bits.
 * `state()` / `Random.fromState()` give bit-exact resume; `split()` derives an independent
 * stream (for example one per worker or per continuation batch) without disturbing reproducibility.
 *
 * @example Reproducible draws
 * ```ts
 * import { Random } from "./random.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const a = new Random(42);
 * const b = new Random(42);
 * assertEquals([a.next(), a.float(), a.int(10)], [b.next(), b.float(), b.int(10)]);
 * const saved = a.state();
 * const x = a.next();
 * assertEquals(Random.fromState(saved).next(), x);
 * ```
 */
export class Random {
  #s: Uint32Array;

  /**
   * Seed a generator.
   *
   * @param seed Any finite number; it is reduced to 32 bits and expanded with splitmix32.
   * @throws {RangeError} When `seed` is not a finite number.
   */
  constructor(seed: number) {
    if (typeof seed !== "number" || !Number.isFinite(seed)) {
      throw new RangeError(`Cannot seed the generator: seed must be a finite number, got ${seed}`);
    }
    let x = (Math.trunc(seed) >>> 0) ^ (Math.floor(Math.trunc(seed) / 2 ** 32) >>> 0);
    this.#s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(x);
      x = next;
      this.#s[i] = out;
    }
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
  }

  /**
   * Rebuild a generator from a saved state.
   *
   * @param state A state returned by {@linkcode Random.prototype.state}.
   * @returns A generator that continues exactly where the saved one was.
   * @throws {TypeError} When the state is malformed.
   */
  static fromState(state: RandomState): Random {
    const words = state?.words;
    if (
      state?.algorithm !== "xoshiro128**" || !Array.isArray(words) || words.length !== 4 ||
      !words.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) ||
      words.every((w) => w === 0)
    ) {
      throw new TypeError(
        `Cannot restore the generator: expected { algorithm: "xoshiro128**", words: four non-zero uint32 }, got ${
          JSON.stringify(state)
        }`,
      );
    }
    const r = new Random(0);
    r.#s.set(words);
    return r;
  }

  /** The current state, as plain JSON-serialisable data. */
  state(): RandomState {
    const [a, b, c, d] = this.#s;
    return { algorithm: "xoshiro128**", words: [a, b, c, d] };
  }

  /** The next 32 random bits, as an unsigned integer in [0, 2³²). */
  next(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.next() >>> 5; // 27 bits
    const lo = this.next() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * A uniform integer in [0, n), without modulo bias.
   *
   * @param n The exclusive upper bound, a positive integer at most 2³².
   * @throws {RangeError} When `n` is not a positive integer at most 2³².
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) {
      throw new RangeError(
        `Cannot draw an integer: n must be an integer in [1, 2^32], got ${n}`,
      );
    }
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x = this.next();
    while (x >= limit) x = this.next();
    return x % n;
  }

  /** A standard normal draw (Box–Muller). */
  normal(): number {
    let u = this.float();
    while (u === 0) u = this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * An index drawn from unnormalised non-negative weights.
   *
   * @param weights Non-negative weights with a positive, finite sum.
   * @returns An index i with probability weights[i] / Σ weights.
   * @throws {RangeError} When the weights do not have a positive finite sum.
   */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0) || !Number.isFinite(total)) {
      throw new RangeError(
        `Cannot draw from a categorical distribution: weights must have a positive finite sum, got ${total}`,
      );
    }
    let u = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0 && weights[i] > 0) return i;
    }
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** Shuffle an array in place (Fisher–Yates) and return it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /**
   * An independent generator seeded from this one's next 128 bits (advances this generator).
   * Use it to give a sub-task its own stream.
   */
  split(): Random {
    const child = new Random(0);
    for (let i = 0; i < 4; i++) child.#s[i] = splitmix32(this.next())[1];
    if (child.#s.every((w) => w === 0)) child.#s[0] = 1;
    return child;
  }

  /** A copy with the same state: both then produce the same sequence. */
  fork(): Random {
    return Random.fromState(this.state());
  }
}
