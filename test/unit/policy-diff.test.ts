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

  it('an exception added, changed or removed is a change', () => {
    const holiday = {
      id: 'h',
      name: 'Holiday',
      colour: '#e53935',
      from: '2026-12-24',
      to: '2026-12-26',
      recurrence: 'yearly' as const,
      rpoTargetSeconds: 1800,
    };
    const before = policy([tf('a')], { schemaVersion: 2, exceptions: [] });
    const withHoliday = policy([tf('a')], { schemaVersion: 2, exceptions: [holiday] });
    const added = diffPolicies(before, withHoliday);
    assert.equal(added.empty, false);
    assert.deepEqual(
      added.exceptions.added.map((e) => e.id),
      ['h'],
    );
    const longer = policy([tf('a')], {
      schemaVersion: 2,
      exceptions: [{ ...holiday, to: '2026-12-31' }],
    });
    assert.deepEqual(diffPolicies(withHoliday, longer).exceptions.changed, [
      {
        id: 'h',
        name: 'Holiday',
        changes: [{ field: 'to', from: '2026-12-26', to: '2026-12-31' }],
      },
    ]);
    assert.deepEqual(
      diffPolicies(withHoliday, before).exceptions.removed.map((e) => e.id),
      ['h'],
    );
    // A version-1 policy and the same one as version 2 without exceptions: nothing to review.
    assert.equal(diffPolicies(policy([tf('a')]), before).empty, true);
  });
});
