import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from '../../agent/util/buffer-pool';

const KiB = 1024;

test('buffer pool: size classes, reuse, the idle budget and decay', () => {
  const pool = new BufferPool({
    minBytes: 64 * KiB,
    maxBytes: 1024 * KiB + 64 * KiB,
    idleBytes: 3 * 1024 * KiB,
    decayMs: 60_000,
  });
  const classOf = (n: number): number => pool.take(n).buffer.byteLength;
  // The smallest class that holds n; under half the smallest, or over the largest: fresh.
  assert.equal(classOf(40 * KiB), 64 * KiB);
  assert.equal(classOf(65 * KiB), 128 * KiB);
  assert.equal(classOf(1024 * KiB), 1024 * KiB);
  assert.equal(classOf(1024 * KiB + 100), 1088 * KiB);
  pool.take(2000 * KiB);
  pool.take(10 * KiB);
  // Only the four pooled ones were allocated by the pool.
  assert.deepEqual(pool.stats(), { reused: 0, allocated: 4, idleBytes: 0 });

  // Given back, a buffer is handed out again, at the size asked for.
  const a = pool.take(900 * KiB);
  pool.give(a);
  const b = pool.take(1000 * KiB);
  assert.equal(b.buffer, a.buffer);
  assert.equal(b.length, 1000 * KiB);
  pool.give(b);
  pool.give(b);
  assert.deepEqual(pool.stats(), { reused: 1, allocated: 5, idleBytes: 1024 * KiB });

  // At most idleBytes stay idle: the fourth 1 MiB buffer given back is dropped.
  const held = [pool.take(1000 * KiB), pool.take(1000 * KiB), pool.take(1000 * KiB)];
  const fourth = pool.take(1000 * KiB);
  for (const buf of [...held, fourth]) pool.give(buf);
  assert.equal(pool.stats().idleBytes, 3 * 1024 * KiB);

  // Decay: buffers idle since the last decay go; one taken meanwhile lowers the mark.
  pool.decay();
  assert.equal(pool.stats().idleBytes, 3 * 1024 * KiB, 'all three were in use in the period');
  pool.decay();
  assert.equal(pool.stats().idleBytes, 0, 'idle through a whole period: dropped');
  const again = [pool.take(1000 * KiB), pool.take(1000 * KiB)];
  for (const buf of again) pool.give(buf);
  const one = pool.take(1000 * KiB); // the low-water mark is now 1 idle buffer
  pool.give(one);
  pool.decay();
  assert.equal(pool.stats().idleBytes, 1024 * KiB, 'the one buffer never taken is dropped');
  pool.decay();
  assert.equal(pool.stats().idleBytes, 0);
});
