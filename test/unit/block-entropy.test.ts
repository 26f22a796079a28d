import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BLOCK_ENTROPY_WASM_BASE64, WINDOW_BLOCKS } from '../../agent/replication/block-entropy';
import {
  ChangeSignal,
  HIGH_ENTROPY_BITS,
  blockWindow,
  SIGNAL_BLOCK_BYTES,
  sampledBlockEntropy,
} from '../../agent/replication/change-signal';

const B = SIGNAL_BLOCK_BYTES;
const REPO = join(import.meta.dirname, '..', '..');

/**
 * Bytes over an alphabet of 1–256 values, in runs: from zeros and text-like data to random
 * (an alphabet of 256 and runs of 1), so blocks fall on both sides of the threshold.
 */
const content = (maxBytes: number): fc.Arbitrary<Buffer> =>
  fc
    .record({
      alphabet: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 256 }),
      picks: fc.uint8Array({ minLength: 1, maxLength: 512 }),
      run: fc.integer({ min: 1, max: 8 }),
      length: fc.integer({ min: 0, max: maxBytes }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .map(({ alphabet, picks, run, length, seed }) => {
      const out = Buffer.alloc(length);
      let x = seed | 1;
      for (let i = 0; i < length; i += 1) {
        if (i % run === 0) {
          // xorshift32: picks are reused with a varying stride, so long inputs are not periodic
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
        }
        const pick = picks[(x >>> 0) % picks.length] as number;
        out[i] = alphabet[pick % alphabet.length] as number;
      }
      return out;
    });

describe('block entropy in WebAssembly', () => {
  it('gives sampledBlockEntropy’s figure to the bit, for every block of a window', () => {
    const window = blockWindow();
    fc.assert(
      fc.property(
        content((WINDOW_BLOCKS + 3) * B),
        fc.integer({ min: 0, max: 3 * B }),
        (data, at) => {
          const blocks = Math.max(0, Math.floor((data.length - at) / B));
          const n = window.load(data, at, blocks);
          assert.equal(n, Math.min(blocks, WINDOW_BLOCKS));
          for (let k = 0; k < n; k += 1) {
            const expected = sampledBlockEntropy(data, at + k * B);
            assert.ok(Object.is(window.entropy(k), expected), `block ${k}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('judges zeros 0 bits and random bytes above the threshold', () => {
    const window = blockWindow();
    const data = Buffer.alloc(2 * B);
    for (let i = B; i < 2 * B; i += 1) data[i] = (Math.imul(i, 2654435761) >>> 13) & 255;
    assert.equal(window.load(data, 0, 2), 2);
    assert.equal(window.entropy(0), 0);
    assert.ok(window.entropy(1) >= HIGH_ENTROPY_BITS, `${window.entropy(1)}`);
  });

  it('lets the signal count the blocks of any write as the JS estimate judges them', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: 64 * B }),
            data: content(40 * B),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (writes) => {
          const signal = new ChangeSignal([{ diskId: 'd', sizeBytes: 128 * B }]);
          let blocks = 0;
          let high = 0;
          let seq = 0;
          for (const { offset, data } of writes) {
            const first = Math.ceil(offset / B) * B - offset;
            for (let at = first; at + B <= data.length; at += B) {
              blocks += 1;
              if (sampledBlockEntropy(data, at) >= HIGH_ENTROPY_BITS) high += 1;
            }
            seq += 1;
            signal.add({
              vpgId: 'v',
              seq,
              sourceTime: 1,
              kind: 'write',
              diskId: 'd',
              offset,
              data,
            });
          }
          const change = signal.add({
            vpgId: 'v',
            seq: seq + 1,
            sourceTime: 1,
            kind: 'checkpoint',
          });
          const disk = change?.disks[0];
          assert.equal(disk?.writtenBlocks, blocks);
          assert.equal(disk?.highEntropyBlocks, high);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('embeds the binary that wat2wasm makes of block-entropy.wat', (t) => {
    const wat = join(REPO, 'agent', 'replication', 'block-entropy.wat');
    const built = spawnSync('wat2wasm', [wat, '--output=-']);
    if (built.error !== undefined) {
      t.skip('wat2wasm is not installed (Debian: wabt)');
      return;
    }
    assert.equal(built.status, 0, built.stderr.toString());
    assert.equal(
      BLOCK_ENTROPY_WASM_BASE64,
      built.stdout.toString('base64'),
      'the embedded module is not the .wat: see block-entropy.ts for how to regenerate it',
    );
  });
});
