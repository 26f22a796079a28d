import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { crc32, CRC32_IMPLEMENTATION } from '../../agent/util/crc32';

describe('crc32', () => {
  it('is the native one in a checkout (node_modules has it)', () => {
    assert.equal(CRC32_IMPLEMENTATION, 'native');
  });

  it("gives zlib's values, whole and continued from a previous part, on any view", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const data = Buffer.from(bytes);
        const cut = data.length === 0 ? 0 : a % (data.length + 1);
        const from = data.length === 0 ? 0 : b % (cut + 1);
        const view = data.subarray(from);
        assert.equal(crc32(view), zlibCrc32(view));
        const head = data.subarray(from, cut);
        const tail = data.subarray(cut);
        assert.equal(crc32(tail, crc32(head)), zlibCrc32(data.subarray(from)));
      }),
      { numRuns: 300 },
    );
    assert.equal(crc32(new Uint8Array(0)), 0);
    const big = randomBytes(4 << 20);
    assert.equal(crc32(big), zlibCrc32(big));
    // The standard check value of CRC-32/ISO-HDLC.
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });
});
