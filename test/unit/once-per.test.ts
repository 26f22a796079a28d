import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OncePer } from '../../agent/util/once-per';

describe('OncePer', () => {
  it('lets the first call through, then one per interval', () => {
    let now = 1_000;
    const once = new OncePer(10_000, () => now);
    assert.equal(once.take(), true);
    now += 9_999;
    assert.equal(once.take(), false);
    now += 1;
    assert.equal(once.take(), true, 'a whole interval after the last one let through');
    now += 5_000;
    assert.equal(once.take(), false, 'the interval starts at the last call let through');
  });
});
