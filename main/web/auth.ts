import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A set of secrets compared in constant time (digests of equal length, no early exit). */
class SecretSet {
  private readonly digests = new Set<Buffer>();

  add(secret: string): void {
    this.digests.add(digest(secret));
  }

  /** Whether `candidate` is in the set; with `consume`, it is removed (one-time use). */
  match(candidate: string, consume: boolean): boolean {
    const d = digest(candidate);
    let found: Buffer | undefined;
    for (const known of this.digests) {
      if (timingSafeEqual(known, d)) found = known;
    }
    if (found !== undefined && consume) this.digests.delete(found);
    return found !== undefined;
  }

  clear(): void {
    this.digests.clear();
  }
}

/**
 * Browser-mode access: one-time login tokens (printed in the console URL) are exchanged for
 * a session cookie. Only digests are kept in memory.
 */
export class WebAuth {
  private readonly loginTokens = new SecretSet();
  private readonly sessions = new SecretSet();

  constructor(readonly cookieName: string) {}

  issueLoginToken(): string {
    const token = randomBytes(32).toString('base64url');
    this.loginTokens.add(token);
    return token;
  }

  /** Consumes a login token: true once per issued token, false afterwards. */
  consumeLoginToken(candidate: string): boolean {
    return this.loginTokens.match(candidate, true);
  }

  createSession(): string {
    const id = randomBytes(32).toString('base64url');
    this.sessions.add(id);
    return id;
  }

  hasSession(cookieHeader: string | undefined): boolean {
    const id = readCookie(cookieHeader, this.cookieName);
    return id !== undefined && this.sessions.match(id, false);
  }

  sessionCookie(id: string): string {
    return `${this.cookieName}=${id}; Path=/; HttpOnly; SameSite=Strict`;
  }

  clear(): void {
    this.loginTokens.clear();
    this.sessions.clear();
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
