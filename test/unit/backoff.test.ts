import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../app/backoff';

describe('console back-off', () => {
  it('doubles from 0.5 s to a 30 s cap with jitter in [d/2, d]', () => {
    const low = new Backoff({ random: () => 0 });
    const high = new Backoff({ random: () => 1 });
    const lows = Array.from({ length: 9 }, () => low.next());
    const highs = Array.from({ length: 9 }, () => high.next());
    assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.deepEqual(lows, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it('starts over after reset (a successful connection)', () => {
    const b = new Backoff({ random: () => 1 });
    b.next();
    b.next();
    assert.equal(b.attempts, 2);
    b.reset();
    assert.equal(b.next(), 500);
  });

  it('jitters between consoles', () => {
    const seen = new Set(Array.from({ length: 20 }, () => new Backoff().next()));
    assert.ok(seen.size > 1);
    for (const d of seen) assert.ok(d >= 250 && d <= 500);
  });
});
