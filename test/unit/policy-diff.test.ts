import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffPolicies } from '../../app/policy/diff';
import type { Policy, Timeframe } from '../../app/policy/policy-schemas';

const tf = (id: string, over: Partial<Timeframe> = {}): Timeframe => ({
  id,
  name: id,
  colour: '#1e88e5',
  days: [1, 2, 3, 4, 5],
  start: '08:00',
  end: '18:00',
  rpoTargetSeconds: 900,
  ...over,
});
const policy = (timeframes: Timeframe[], over: Partial<Policy> = {}): Policy => ({
  schemaVersion: 1,
  version: 1,
  timeZone: 'Europe/Berlin',
  default: { rpoTargetSeconds: 300 },
  timeframes,
  ...over,
});

describe('diffPolicies', () => {
  it('lists added, removed and changed timeframes by id', () => {
    const d = diffPolicies(
      policy([tf('a'), tf('b'), tf('c')]),
      policy([tf('a'), tf('b', { end: '17:00', replicationBitsPerSecond: 1e6 }), tf('d')]),
    );
    assert.deepEqual(
      d.added.map((t) => t.id),
      ['d'],
    );
    assert.deepEqual(
      d.removed.map((t) => t.id),
      ['c'],
    );
    assert.deepEqual(d.changed, [
      {
        id: 'b',
        name: 'b',
        changes: [
          { field: 'end', from: '18:00', to: '17:00' },
          { field: 'replicationBitsPerSecond', from: undefined, to: 1e6 },
        ],
      },
    ]);
    assert.equal(d.empty, false);
  });

  it('reports default and time zone changes; the order of days does not matter', () => {
    const d = diffPolicies(
      policy([tf('a', { days: [5, 1] })]),
      policy([tf('a', { days: [1, 5] })], {
        timeZone: 'America/New_York',
        default: { rpoTargetSeconds: 60, seedingBitsPerSecond: 5e6 },
      }),
    );
    assert.deepEqual(d.changed, []);
    assert.deepEqual(d.timeZone, { from: 'Europe/Berlin', to: 'America/New_York' });
    assert.deepEqual(d.defaultChanges, [
      { field: 'rpoTargetSeconds', from: 300, to: 60 },
      { field: 'seedingBitsPerSecond', from: undefined, to: 5e6 },
    ]);
  });

  it('treats everything as added when the agent has no policy, and an identical one as empty', () => {
    const next = policy([tf('a')]);
    const first = diffPolicies(undefined, next);
    assert.deepEqual(
      first.added.map((t) => t.id),
      ['a'],
    );
    assert.deepEqual(first.timeZone, { from: undefined, to: 'Europe/Berlin' });
    assert.deepEqual(first.defaultChanges, [
      { field: 'rpoTargetSeconds', from: undefined, to: 300 },
    ]);
    // The version is the agent's bookkeeping, not a change an admin reviews.
    assert.equal(diffPolicies(policy([tf('a')], { version: 4 }), next).empty, true);
  });
});
