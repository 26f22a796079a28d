/**
 * Bytes per second of an ever-growing counter (bytes accepted from the VMs, bytes sent),
 * sampled once a second and averaged over the last few seconds.
 */
export class RateMeter {
  private readonly samples: { readonly time: number; readonly total: number }[] = [];

  constructor(private readonly windowMs = 3000) {}

  /** Records the counter's value at `time` (ms) and returns the rate over the window. */
  sample(time: number, total: number): number {
    this.samples.push({ time, total });
    while (this.samples.length > 2 && time - (this.samples[1]?.time ?? time) >= this.windowMs) {
      this.samples.shift();
    }
    return this.rate();
  }

  rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || last.time <= first.time) return 0;
    return Math.max(0, ((last.total - first.total) * 1000) / (last.time - first.time));
  }
}
