import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthThrottle } from '../../agent/security/auth-throttle';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('AuthThrottle', () => {
  it('lets the first failures through, then locks out with doubling delays up to the cap', () => {
    const c = clock();
    const throttle = new AuthThrottle({
      freeFailures: 5,
      baseDelayMs: 1000,
      maxDelayMs: 8000,
      now: c.now,
    });
    for (let i = 1; i <= 4; i += 1) {
      assert.deepEqual(throttle.check('10.0.0.1'), { allowed: true });
      assert.equal(throttle.recordFailure('10.0.0.1'), 0);
    }
    assert.equal(throttle.recordFailure('10.0.0.1'), 1000, 'the 5th failure starts a lockout');
    assert.deepEqual(throttle.check('10.0.0.1'), { allowed: false, retryAfterMs: 1000 });
    c.advance(400);
    assert.deepEqual(throttle.check('10.0.0.1'), { allowed: false, retryAfterMs: 600 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const verdict = throttle.check('10.0.0.1');
      c.advance(verdict.allowed ? 0 : verdict.retryAfterMs);
      delays.push(throttle.recordFailure('10.0.0.1'));
    }
    assert.deepEqual(delays, [2000, 4000, 8000, 8000, 8000]);
  });

  it('keeps addresses apart', () => {
    const c = clock();
    const throttle = new AuthThrottle({ freeFailures: 1, now: c.now });
    throttle.recordFailure('10.0.0.1');
    assert.equal(throttle.check('10.0.0.1').allowed, false);
    assert.equal(throttle.check('10.0.0.2').allowed, true);
  });

  it('a success resets the address', () => {
    const c = clock();
    const throttle = new AuthThrottle({ freeFailures: 2, now: c.now });
    throttle.recordFailure('a');
    throttle.recordSuccess('a');
    assert.equal(throttle.failures('a'), 0);
    assert.equal(throttle.recordFailure('a'), 0);
    assert.ok(throttle.recordFailure('a') > 0);
  });

  it('forgets an address after a quiet window', () => {
    const c = clock();
    const throttle = new AuthThrottle({
      freeFailures: 1,
      baseDelayMs: 1000,
      forgetAfterMs: 60_000,
      now: c.now,
    });
    throttle.recordFailure('a');
    throttle.recordFailure('a');
    assert.equal(throttle.failures('a'), 2);
    c.advance(60_001);
    assert.equal(throttle.failures('a'), 0);
    assert.equal(throttle.check('a').allowed, true);
  });

  it('tracks a bounded number of addresses', () => {
    const c = clock();
    const throttle = new AuthThrottle({ maxTracked: 100, now: c.now });
    for (let i = 0; i < 1000; i += 1) throttle.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(throttle.tracked <= 100);
  });
});
