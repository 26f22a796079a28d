const MAX_SLEEP_MS = 250;

/**
 * A token bucket in bytes: `take(bytes)` resolves when the bytes may go, at `rate` bytes/s
 * on average, with bursts of at most `burstSeconds` of the rate. Takers are served in order.
 * A take larger than the bucket goes once the bucket is full and leaves it in debt, so a big
 * record never stalls and the long-run rate stays exact. Undefined rate: unlimited.
 * setRate applies at once, also to a take that is waiting.
 */
export class TokenBucket {
  private rateValue: number | undefined;
  private tokens = 0;
  private last = 0;
  private chain: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(
    rate: number | undefined,
    private readonly burstSeconds = 0.2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.rateValue = rate;
    this.last = this.now();
    this.tokens = this.burst();
  }

  get rate(): number | undefined {
    return this.rateValue;
  }

  /** Bytes per second; undefined: unlimited. */
  setRate(rate: number | undefined): void {
    if (rate === this.rateValue) return;
    this.refill();
    this.rateValue = rate;
    this.tokens = Math.min(this.tokens, this.burst());
    this.wake?.();
  }

  take(bytes: number): Promise<void> {
    if (this.rateValue === undefined && this.wake === undefined) return Promise.resolve();
    const turn = this.chain.then(() => this.acquire(bytes));
    this.chain = turn;
    return turn;
  }

  private async acquire(bytes: number): Promise<void> {
    for (;;) {
      const rate = this.rateValue;
      if (rate === undefined) return;
      this.refill();
      // Full bucket (or enough tokens): go, possibly into debt for a big take.
      if (this.tokens >= Math.min(bytes, this.burst())) {
        this.tokens -= bytes;
        return;
      }
      const missing = Math.min(bytes, this.burst()) - this.tokens;
      // At most MAX_SLEEP_MS, then look at the clock again (cheap, and robust to its jumps).
      await this.sleep(Math.min(MAX_SLEEP_MS, Math.max(1, Math.ceil((missing / rate) * 1000))));
    }
  }

  private burst(): number {
    return this.rateValue === undefined ? 0 : Math.max(1, this.rateValue * this.burstSeconds);
  }

  private refill(): void {
    const now = this.now();
    const rate = this.rateValue;
    if (rate !== undefined) {
      this.tokens = Math.min(this.burst(), this.tokens + ((now - this.last) / 1000) * rate);
    }
    this.last = now;
  }

  /** Sleeps `ms`, or less when the rate changes. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}
