import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TokenHashSchema,
  generateToken,
  hashToken,
  parseBearer,
  verifyToken,
} from '../../agent/security/token';

describe('admin token', () => {
  it('is 32 random bytes, base64url', () => {
    const a = generateToken();
    const b = generateToken();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.notEqual(a, b);
  });

  it('is stored only as a salted hash that verifies it', () => {
    const token = generateToken();
    const stored = hashToken(token);
    assert.ok(TokenHashSchema.safeParse(stored).success);
    assert.ok(!JSON.stringify(stored).includes(token));
    assert.equal(verifyToken(token, stored), true);
    assert.notEqual(hashToken(token).salt, stored.salt, 'a fresh salt each time');
  });

  it('refuses wrong, truncated, extended and empty tokens', () => {
    const token = generateToken();
    const stored = hashToken(token);
    assert.equal(verifyToken(generateToken(), stored), false);
    assert.equal(verifyToken(token.slice(0, -1), stored), false);
    assert.equal(verifyToken(`${token}x`, stored), false);
    assert.equal(verifyToken('', stored), false);
  });

  it('parses the Authorization: Bearer header strictly', () => {
    assert.equal(parseBearer('Bearer abc_DEF-123'), 'abc_DEF-123');
    assert.equal(parseBearer('bearer abc'), 'abc');
    assert.equal(parseBearer(undefined), undefined);
    assert.equal(parseBearer('Basic abc'), undefined);
    assert.equal(parseBearer('Bearer'), undefined);
    assert.equal(parseBearer('Bearer a b'), undefined);
  });
});
