export interface BackoffOptions {
  /** First delay after a failure (default 500 ms). */
  readonly initialMs?: number;
  /** Cap of the doubling delay (default 30 s). */
  readonly maxMs?: number;
  /** 0..1 source of jitter (default Math.random). */
  readonly random?: () => number;
}

/**
 * Reconnect delays for every client of the product (console → agent, renderer → console).
 * Exponential back-off with "equal jitter": the n-th delay is uniformly drawn from
 * [d/2, d] where d = min(max, initial * 2^n), so consoles don't reconnect in lockstep.
 */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const half = ceiling / 2;
    return Math.round(half + this.random() * half);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
