/**
 * Seconds left of a task from its progress: the rate (units per second) is smoothed
 * exponentially with a time constant, so the estimate neither jumps with every burst nor
 * depends on how often progress is reported.
 */
export class EtaEstimator {
  private rate: number | undefined;
  private last: { readonly time: number; readonly done: number } | undefined;

  /**
   * @param timeConstantMs how long the rate takes to follow a change (about 63 %)
   * @param minSampleMs reports closer together than this are merged into the next sample
   */
  constructor(
    private readonly timeConstantMs = 10_000,
    private readonly minSampleMs = 500,
  ) {}

  /** Records `done` units at `time` (ms); returns the seconds left to `total`, if known. */
  update(time: number, done: number, total: number): number | undefined {
    const last = this.last;
    if (last === undefined || done < last.done) {
      this.last = { time, done };
      this.rate = undefined;
      return undefined;
    }
    const elapsed = time - last.time;
    if (elapsed >= this.minSampleMs) {
      const instant = ((done - last.done) * 1000) / elapsed;
      const weight = 1 - Math.exp(-elapsed / this.timeConstantMs);
      this.rate = this.rate === undefined ? instant : this.rate + weight * (instant - this.rate);
      this.last = { time, done };
    }
    return this.secondsLeft(done, total);
  }

  /** Units per second, once there have been two samples. */
  get unitsPerSecond(): number | undefined {
    return this.rate;
  }

  private secondsLeft(done: number, total: number): number | undefined {
    if (this.rate === undefined || this.rate <= 0) return undefined;
    return Math.max(0, Math.round((total - done) / this.rate));
  }
}
