/**
 * Slows down guessing of the admin token, per remote address. The first `freeFailures`
 * failures cost nothing; each further one locks the address out for a delay that doubles
 * (base, 2×base, 4×base … up to `maxDelayMs`). While locked out, every attempt is refused
 * before its token is even looked at (the caller answers 429 with Retry-After), so a guess
 * during a lockout can never succeed. A success resets the address; an address with no
 * failure for `forgetAfterMs` is forgotten.
 */
export interface AuthThrottleOptions {
  readonly freeFailures?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly forgetAfterMs?: number;
  /** Addresses tracked at most; the stalest are dropped first. */
  readonly maxTracked?: number;
  readonly now?: () => number;
}

export type ThrottleVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

interface Entry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.freeFailures = options.freeFailures ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    this.maxTracked = options.maxTracked ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Whether an attempt from `address` may be checked now. */
  check(address: string): ThrottleVerdict {
    const entry = this.live(address);
    if (entry === undefined) return { allowed: true };
    const wait = entry.blockedUntil - this.now();
    return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
  }

  /** Records a failed attempt; returns the lockout it starts (0 while failures are free). */
  recordFailure(address: string): number {
    const now = this.now();
    let entry = this.live(address);
    if (entry === undefined) {
      this.makeRoom();
      entry = { failures: 0, lastFailureAt: now, blockedUntil: 0 };
    } else {
      this.entries.delete(address); // re-insert: the map's order is staleness order
    }
    entry.failures += 1;
    entry.lastFailureAt = now;
    const excess = entry.failures - this.freeFailures;
    const delay =
      excess < 0 ? 0 : Math.min(this.baseDelayMs * 2 ** Math.min(excess, 30), this.maxDelayMs);
    entry.blockedUntil = now + delay;
    this.entries.set(address, entry);
    return delay;
  }

  recordSuccess(address: string): void {
    this.entries.delete(address);
  }

  /** Failures counted for `address` (for logs and tests). */
  failures(address: string): number {
    return this.live(address)?.failures ?? 0;
  }

  get tracked(): number {
    return this.entries.size;
  }

  private live(address: string): Entry | undefined {
    const entry = this.entries.get(address);
    if (entry === undefined) return undefined;
    if (this.isStale(entry, this.now())) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }

  private isStale(entry: Entry, now: number): boolean {
    return now - entry.lastFailureAt > this.forgetAfterMs && now >= entry.blockedUntil;
  }

  private makeRoom(): void {
    if (this.entries.size < this.maxTracked) return;
    const now = this.now();
    for (const [address, entry] of this.entries) {
      if (this.isStale(entry, now)) this.entries.delete(address);
    }
    while (this.entries.size >= this.maxTracked) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
