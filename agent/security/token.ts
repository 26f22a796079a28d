import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The admin token: 32 random bytes, base64url. Only a salted SHA-256 of it is stored. A slow
 * hash (scrypt) buys nothing for a 256-bit random secret, and would give unauthenticated
 * peers a way to make the agent burn CPU; SHA-256 plus the auth throttle is the right cost.
 */
export const TOKEN_BYTES = 32;

export const TokenHashSchema = z.strictObject({
  algorithm: z.literal('sha256'),
  salt: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be 16 bytes, base64url'),
  hash: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url'),
});
export type TokenHash = z.infer<typeof TokenHashSchema>;

export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function hashToken(token: string, salt: Buffer = randomBytes(16)): TokenHash {
  return {
    algorithm: 'sha256',
    salt: salt.toString('base64url'),
    hash: digest(token, salt).toString('base64url'),
  };
}

/** Constant-time check of a presented token against the stored hash. */
export function verifyToken(presented: string, stored: TokenHash): boolean {
  const expected = Buffer.from(stored.hash, 'base64url');
  const actual = digest(presented, Buffer.from(stored.salt, 'base64url'));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i.exec(header);
  return match?.[1];
}

function digest(token: string, salt: Buffer): Buffer {
  return createHash('sha256').update(salt).update(token, 'utf8').digest();
}
