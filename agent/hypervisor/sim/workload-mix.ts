import { TidelineError } from '../../../app/errors';
import type { Prng } from './prng';

/** Write size in bytes → relative weight, e.g. { 4096: 0.6, 65536: 0.3, 1048576: 0.1 }. */
export type WriteMix = Readonly<Record<string, number>>;

export const DEFAULT_WRITE_MIX: WriteMix = { 4096: 0.6, 65536: 0.3, 1048576: 0.1 };

const MAX_WRITE_BYTES = 32 * 1024 * 1024;

/** A validated mix, ready to draw sizes from. */
export class WriteSizes {
  private readonly sizes: number[];
  private readonly cumulative: number[];
  /** Expected bytes per write. */
  readonly meanBytes: number;
  readonly largest: number;

  constructor(readonly mix: WriteMix) {
    const entries = Object.entries(mix)
      .map(([size, weight]) => [Number(size), weight] as const)
      .sort((a, b) => a[0] - b[0]);
    let total = 0;
    for (const [size, weight] of entries) {
      if (!Number.isSafeInteger(size) || size < 512 || size % 512 !== 0 || size > MAX_WRITE_BYTES) {
        throw new TidelineError(
          'INVALID_PARAMS',
          `Write size ${size} is not a multiple of 512 bytes between 512 and ${MAX_WRITE_BYTES}`,
        );
      }
      if (!Number.isFinite(weight) || weight < 0) {
        throw new TidelineError(
          'INVALID_PARAMS',
          `Weight ${weight} of write size ${size} is negative`,
        );
      }
      total += weight;
    }
    if (!(total > 0)) {
      throw new TidelineError(
        'INVALID_PARAMS',
        'A write mix needs at least one size with a weight above 0',
      );
    }
    this.sizes = [];
    this.cumulative = [];
    let acc = 0;
    let mean = 0;
    for (const [size, weight] of entries) {
      if (weight === 0) continue;
      acc += weight / total;
      mean += (size * weight) / total;
      this.sizes.push(size);
      this.cumulative.push(acc);
    }
    this.meanBytes = mean;
    this.largest = this.sizes[this.sizes.length - 1] ?? 0;
  }

  draw(rng: Prng): number {
    const r = rng.next();
    for (let i = 0; i < this.sizes.length; i += 1) {
      if (r < (this.cumulative[i] ?? 1)) return this.sizes[i] ?? this.largest;
    }
    return this.largest;
  }
}
