import { createHmac, randomBytes } from 'node:crypto';

export type TokenVerdict = 'ok' | 'expired' | 'used' | 'unknown';

export interface PairingTokensOptions {
  /** How long a token is valid (default 10 minutes). */
  readonly ttlMs?: number;
  readonly now?: () => number;
  /** Tokens remembered at most (the oldest are forgotten first). */
  readonly maxTracked?: number;
}

interface Entry {
  readonly expiresAt: number;
  used: boolean;
}

/** After expiry a token is remembered this long more, to say "expired" rather than "unknown". */
const REMEMBER_EXPIRED_MS = 60 * 60 * 1000;
export const DEFAULT_PAIRING_TOKEN_TTL_MS = 10 * 60 * 1000;

/**
 * Pairing tokens: 32 random bytes (base64url), single use, valid for a short time. Only an
 * HMAC of each token (keyed with a secret of this process) is kept, in memory: a restart
 * invalidates every outstanding token, and a memory dump reveals none.
 */
export class PairingTokens {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly maxTracked: number;

  constructor(options: PairingTokensOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_PAIRING_TOKEN_TTL_MS;
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTracked ?? 1000;
  }

  get ttl(): number {
    return this.ttlMs;
  }

  issue(): { token: string; expiresAt: number } {
    this.prune();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.entries.set(this.digest(token), { expiresAt, used: false });
    return { token, expiresAt };
  }

  check(token: string): TokenVerdict {
    const entry = this.entries.get(this.digest(token));
    if (entry === undefined) return 'unknown';
    if (entry.used) return 'used';
    if (this.now() >= entry.expiresAt) return 'expired';
    return 'ok';
  }

  /** Marks a token used (call right after check() said 'ok', before any await). */
  consume(token: string): void {
    const entry = this.entries.get(this.digest(token));
    if (entry !== undefined) entry.used = true;
  }

  /** Undoes consume() when pairing failed on this side after all. */
  restore(token: string): void {
    const entry = this.entries.get(this.digest(token));
    if (entry !== undefined) entry.used = false;
  }

  private digest(token: string): string {
    return createHmac('sha256', this.key).update(token, 'utf8').digest('base64url');
  }

  private prune(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now >= entry.expiresAt + REMEMBER_EXPIRED_MS) this.entries.delete(key);
    }
    while (this.entries.size >= this.maxTracked) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
