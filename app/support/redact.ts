/**
 * Secrets out of support bundles. Both the agent (its logs and state) and the console (its
 * log, the agents' bundles) pass every line of every file through a Redactor before it goes
 * into an archive. Three nets, because each alone misses something:
 *
 * - by key, in JSON: values under keys that name a secret (token, secret, password,
 *   authorization, private key, psk, credentials, cookie) become "[redacted]", the way the
 *   loggers redact their paths, but at any depth;
 * - by value: the exact secrets the caller knows (the console's agent tokens, the agent's key
 *   PEM lines and token hash), anywhere in the text;
 * - by shape: PEM private-key blocks, and 43-character base64url words — the form of every
 *   token the product mints (admin tokens, pairing tokens, browser sessions: 32 random bytes),
 *   which the agent itself never keeps in clear and so could not search for by value.
 */

export const REDACTED = '[redacted]';

const SECRET_KEY =
  /token|secret|password|passphrase|authorization|cookie|private_?key|privatekey|psk|credential/i;
/** 32 random bytes in base64url, standing alone (not part of a longer word). */
const TOKEN_SHAPE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;
const PEM_PRIVATE =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
/** JSON nested deeper than this is not walked: replaced whole (no stack exhaustion). */
const MAX_DEPTH = 32;
/** Known secrets shorter than this are not searched for (they would match ordinary text). */
const MIN_SECRET_LENGTH = 8;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export class Redactor {
  private readonly secrets: readonly string[];
  private countValue = 0;

  /** `secrets`: exact values never to appear; short and duplicate ones are ignored. */
  constructor(secrets: Iterable<string> = []) {
    const unique = new Set<string>();
    for (const s of secrets) if (s.length >= MIN_SECRET_LENGTH) unique.add(s);
    // Longest first: a secret containing another is replaced whole.
    this.secrets = [...unique].sort((a, b) => b.length - a.length);
  }

  /** How many values were replaced so far (reported with the bundle, never the values). */
  get count(): number {
    return this.countValue;
  }

  /** A deep copy of `value` with secret-named keys' values replaced, then every string scrubbed. */
  value(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) {
      this.countValue += 1;
      return REDACTED;
    }
    if (Array.isArray(value)) return value.map((v: unknown) => this.value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (isSecretKey(k) && v !== undefined && v !== null && v !== REDACTED) {
        this.countValue += 1;
        out[k] = REDACTED;
      } else {
        out[k] = this.value(v, depth + 1);
      }
    }
    return out;
  }

  /** Free text with known secrets, private-key blocks and token-shaped words replaced. */
  text(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (!out.includes(secret)) continue;
      const parts = out.split(secret);
      this.countValue += parts.length - 1;
      out = parts.join(REDACTED);
    }
    out = out.replace(PEM_PRIVATE, () => {
      this.countValue += 1;
      return REDACTED;
    });
    return out.replace(TOKEN_SHAPE, (word) => {
      // A random 32-byte token has letters and digits; a 43-letter word is just a word.
      if (!/[0-9]/.test(word) || !/[A-Za-z]/.test(word)) return word;
      this.countValue += 1;
      return REDACTED;
    });
  }

  /**
   * One line of a log or text file: a JSON object is redacted by key and re-serialized;
   * anything else is scrubbed as text.
   */
  line(line: string): string {
    const trimmed = line.trimStart();
    if (trimmed.startsWith('{')) {
      const parsed = parseJsonObject(trimmed);
      // Keys are scrubbed too (the text pass over the whole line): a record keyed by a secret.
      if (parsed !== undefined) return this.text(JSON.stringify(this.value(parsed)));
    }
    return this.text(line);
  }

  /** Pretty JSON of a value, redacted (state summaries, system facts). */
  json(value: unknown): string {
    return `${JSON.stringify(this.value(value), null, 2)}\n`;
  }
}

/** `text` parsed as a JSON object, or undefined (not JSON, or not an object). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
