import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyInForce } from '../../app/policy/policy';
import type { Policy, Timeframe } from '../../app/policy/policy-schemas';

const iso = (t: number): string => new Date(t).toISOString();
const at = (s: string): number => Date.parse(s);

function tf(
  partial: Partial<Timeframe> & Pick<Timeframe, 'id' | 'days' | 'start' | 'end'>,
): Timeframe {
  return { name: partial.id, colour: '#1e88e5', rpoTargetSeconds: 60, ...partial };
}

function policy(timeZone: string, timeframes: Timeframe[]): Policy {
  return {
    schemaVersion: 1,
    version: 1,
    timeZone,
    default: { rpoTargetSeconds: 300, replicationBitsPerSecond: 100_000_000 },
    timeframes,
  };
}

/** [name, from, until] in UTC ISO text, for compact expectations. */
function stretch(p: Policy, when: string): [string, string, string] {
  const r = policyInForce(p, at(when));
  return [r.timeframeName, iso(r.from), iso(r.until)];
}

describe('policyInForce, plain weeks', () => {
  const p = policy('Europe/Berlin', [
    tf({
      id: 'biz',
      name: 'Business hours',
      days: [1, 2, 3, 4, 5],
      start: '08:00',
      end: '18:00',
      rpoTargetSeconds: 900,
      replicationBitsPerSecond: 20_000_000,
      seedingBitsPerSecond: 5_000_000,
    }),
  ]);

  it('reports the timeframe, its targets and limits, and the stretch', () => {
    const r = policyInForce(p, at('2025-06-04T10:00:00Z')); // Wednesday 12:00 CEST
    assert.deepEqual(r, {
      timeframeId: 'biz',
      timeframeName: 'Business hours',
      rpoTargetSeconds: 900,
      replicationBitsPerSecond: 20_000_000,
      seedingBitsPerSecond: 5_000_000,
      from: at('2025-06-04T06:00:00Z'),
      until: at('2025-06-04T16:00:00Z'),
    });
  });

  it('reports the default with its own values, and no timeframe id', () => {
    const r = policyInForce(p, at('2025-06-04T20:00:00Z'));
    assert.deepEqual(r, {
      timeframeName: 'Default',
      rpoTargetSeconds: 300,
      replicationBitsPerSecond: 100_000_000,
      from: at('2025-06-04T16:00:00Z'),
      until: at('2025-06-05T06:00:00Z'),
    });
  });

  it('spans the weekend as one default stretch; boundaries are inclusive at start, exclusive at end', () => {
    assert.deepEqual(stretch(p, '2025-06-07T12:00:00Z'), [
      'Default',
      '2025-06-06T16:00:00.000Z',
      '2025-06-09T06:00:00.000Z',
    ]);
    assert.equal(policyInForce(p, at('2025-06-09T06:00:00Z')).timeframeName, 'Business hours');
    assert.equal(policyInForce(p, at('2025-06-09T05:59:59.999Z')).timeframeName, 'Default');
    assert.equal(policyInForce(p, at('2025-06-09T16:00:00Z')).timeframeName, 'Default');
  });

  it('merges back-to-back days of one timeframe into one stretch, and 24:00 ends at midnight', () => {
    const q = policy('UTC', [tf({ id: 'all', days: [1, 2, 3], start: '00:00', end: '24:00' })]);
    assert.deepEqual(stretch(q, '2025-06-03T12:00:00Z'), [
      'all',
      '2025-06-02T00:00:00.000Z',
      '2025-06-05T00:00:00.000Z',
    ]);
  });

  it('a policy without timeframes is the default, re-evaluated a week ahead', () => {
    const r = policyInForce(policy('UTC', []), at('2025-06-03T12:00:00Z'));
    assert.equal(r.timeframeName, 'Default');
    assert.equal(r.until - r.from, 7 * 86_400_000);
  });
});

describe('policyInForce, crossing midnight and the end of the week', () => {
  const p = policy('Europe/Berlin', [
    tf({ id: 'night', name: 'Nights', days: [1, 2, 3, 4], start: '22:00', end: '06:00' }),
    tf({ id: 'sun', name: 'Sunday night', days: [7], start: '22:00', end: '06:00' }),
  ]);

  it('a timeframe from 22:00 to 06:00 runs into the next day', () => {
    // Tuesday 2025-06-03 01:00 CEST: Monday's night.
    assert.deepEqual(stretch(p, '2025-06-02T23:00:00Z'), [
      'Nights',
      '2025-06-02T20:00:00.000Z',
      '2025-06-03T04:00:00.000Z',
    ]);
    // Friday 03:00 CEST: Thursday's night, the last one.
    assert.deepEqual(stretch(p, '2025-06-06T01:00:00Z'), [
      'Nights',
      '2025-06-05T20:00:00.000Z',
      '2025-06-06T04:00:00.000Z',
    ]);
  });

  it("Sunday 22:00 → Monday 06:00 wraps the week, and Monday's own night follows", () => {
    // Monday 2025-06-09 02:00 CEST.
    assert.deepEqual(stretch(p, '2025-06-09T00:00:00Z'), [
      'Sunday night',
      '2025-06-08T20:00:00.000Z',
      '2025-06-09T04:00:00.000Z',
    ]);
    assert.deepEqual(stretch(p, '2025-06-09T12:00:00Z'), [
      'Default',
      '2025-06-09T04:00:00.000Z',
      '2025-06-09T20:00:00.000Z',
    ]);
  });

  it('timeframes that touch (one ends when the next starts) change over exactly there', () => {
    const q = policy('UTC', [
      tf({ id: 'a', days: [7], start: '18:00', end: '22:00' }),
      tf({ id: 'b', days: [7], start: '22:00', end: '02:00' }),
    ]);
    assert.deepEqual(stretch(q, '2025-06-08T21:00:00Z'), [
      'a',
      '2025-06-08T18:00:00.000Z',
      '2025-06-08T22:00:00.000Z',
    ]);
    assert.deepEqual(stretch(q, '2025-06-09T01:00:00Z'), [
      'b',
      '2025-06-08T22:00:00.000Z',
      '2025-06-09T02:00:00.000Z',
    ]);
  });
});

describe('policyInForce across DST, Europe/Berlin', () => {
  // 2025: spring forward Sunday 30 March 02:00 CET → 03:00 CEST (01:00 UTC);
  // fall back Sunday 26 October 03:00 CEST → 02:00 CET (01:00 UTC).
  it('a night across the spring-forward change is an hour shorter', () => {
    const p = policy('Europe/Berlin', [tf({ id: 'n', days: [6], start: '22:00', end: '06:00' })]);
    // Saturday 22:00 CET = 21:00 UTC; Sunday 06:00 CEST = 04:00 UTC: 7 h.
    assert.deepEqual(stretch(p, '2025-03-30T00:30:00Z'), [
      'n',
      '2025-03-29T21:00:00.000Z',
      '2025-03-30T04:00:00.000Z',
    ]);
  });

  it('a night across the fall-back change is an hour longer', () => {
    const p = policy('Europe/Berlin', [tf({ id: 'n', days: [6], start: '22:00', end: '06:00' })]);
    // Saturday 22:00 CEST = 20:00 UTC; Sunday 06:00 CET = 05:00 UTC: 9 h.
    assert.deepEqual(stretch(p, '2025-10-26T01:30:00Z'), [
      'n',
      '2025-10-25T20:00:00.000Z',
      '2025-10-26T05:00:00.000Z',
    ]);
  });

  it('a start in the spring-forward gap starts at the first instant after it (03:00 CEST)', () => {
    const p = policy('Europe/Berlin', [tf({ id: 'g', days: [7], start: '02:30', end: '05:00' })]);
    assert.deepEqual(stretch(p, '2025-03-30T02:00:00Z'), [
      'g',
      '2025-03-30T01:00:00.000Z',
      '2025-03-30T03:00:00.000Z',
    ]);
    assert.equal(policyInForce(p, at('2025-03-30T00:59:59Z')).timeframeName, 'Default');
    // The week before, a normal 2.5 h.
    assert.deepEqual(stretch(p, '2025-03-23T02:00:00Z'), [
      'g',
      '2025-03-23T01:30:00.000Z',
      '2025-03-23T04:00:00.000Z',
    ]);
  });

  it('a timeframe wholly inside the gap does not happen that day', () => {
    const p = policy('Europe/Berlin', [
      tf({ id: 'g', days: [7], start: '02:00', end: '03:00' }),
      tf({ id: 'x', days: [7], start: '12:00', end: '13:00' }),
    ]);
    const r = policyInForce(p, at('2025-03-30T00:30:00Z'));
    assert.equal(r.timeframeName, 'Default');
    // Saturday 00:00 … Sunday 12:00 CEST are one default stretch (nothing changes at 03:00).
    assert.equal(iso(r.until), '2025-03-30T10:00:00.000Z');
    assert.equal(iso(r.from), '2025-03-23T12:00:00.000Z');
  });

  it('an ambiguous time in the fall-back fold takes its first occurrence', () => {
    const p = policy('Europe/Berlin', [tf({ id: 'f', days: [7], start: '02:30', end: '04:00' })]);
    // 02:30 CEST = 00:30 UTC (the second 02:30, CET, would be 01:30 UTC).
    assert.deepEqual(stretch(p, '2025-10-26T01:00:00Z'), [
      'f',
      '2025-10-26T00:30:00.000Z',
      '2025-10-26T03:00:00.000Z',
    ]);
    assert.equal(policyInForce(p, at('2025-10-26T00:29:00Z')).timeframeName, 'Default');
  });

  it('an end in the fold ends at its first occurrence; the repeated hour goes to what follows', () => {
    const p = policy('Europe/Berlin', [tf({ id: 'e', days: [6], start: '23:00', end: '02:30' })]);
    // Saturday 23:00 CEST = 21:00 UTC … Sunday 02:30 CEST = 00:30 UTC.
    assert.deepEqual(stretch(p, '2025-10-25T23:00:00Z'), [
      'e',
      '2025-10-25T21:00:00.000Z',
      '2025-10-26T00:30:00.000Z',
    ]);
    // 02:15 CET (the second time round) is the default.
    assert.equal(policyInForce(p, at('2025-10-26T01:15:00Z')).timeframeName, 'Default');
  });
});

describe('policyInForce across DST, America/New_York', () => {
  // 2025: spring forward Sunday 9 March 02:00 EST → 03:00 EDT (07:00 UTC);
  // fall back Sunday 2 November 02:00 EDT → 01:00 EST (06:00 UTC).
  const p = policy('America/New_York', [
    tf({ id: 'biz', name: 'Business', days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' }),
    tf({ id: 'wk', name: 'Weekend backup', days: [6], start: '20:00', end: '01:30' }),
    tf({ id: 'sun', name: 'Sunday early', days: [7], start: '01:30', end: '02:30' }),
  ]);

  it('business hours shift by an hour in UTC over the spring change', () => {
    assert.deepEqual(stretch(p, '2025-03-07T15:00:00Z'), [
      'Business',
      '2025-03-07T14:00:00.000Z',
      '2025-03-07T22:00:00.000Z',
    ]);
    assert.deepEqual(stretch(p, '2025-03-10T15:00:00Z'), [
      'Business',
      '2025-03-10T13:00:00.000Z',
      '2025-03-10T21:00:00.000Z',
    ]);
  });

  it('on the spring-forward Sunday, 01:30–02:30 ends at 03:00 EDT, the first instant after the gap', () => {
    // Saturday 20:00 EST = 01:00 UTC … Sunday 01:30 EST = 06:30 UTC.
    assert.deepEqual(stretch(p, '2025-03-09T03:00:00Z'), [
      'Weekend backup',
      '2025-03-09T01:00:00.000Z',
      '2025-03-09T06:30:00.000Z',
    ]);
    assert.deepEqual(stretch(p, '2025-03-09T06:45:00Z'), [
      'Sunday early',
      '2025-03-09T06:30:00.000Z',
      '2025-03-09T07:00:00.000Z',
    ]);
    // Then the default until Monday 09:00 EDT.
    assert.deepEqual(stretch(p, '2025-03-09T07:00:00Z'), [
      'Default',
      '2025-03-09T07:00:00.000Z',
      '2025-03-10T13:00:00.000Z',
    ]);
  });

  it('on the fall-back Sunday, 01:30 is the first (EDT) one and 02:30 is EST: two hours', () => {
    // Saturday 20:00 EDT = 00:00 UTC … Sunday 01:30 EDT = 05:30 UTC.
    assert.deepEqual(stretch(p, '2025-11-02T02:00:00Z'), [
      'Weekend backup',
      '2025-11-02T00:00:00.000Z',
      '2025-11-02T05:30:00.000Z',
    ]);
    assert.deepEqual(stretch(p, '2025-11-02T06:30:00Z'), [
      'Sunday early',
      '2025-11-02T05:30:00.000Z',
      '2025-11-02T07:30:00.000Z',
    ]);
    assert.deepEqual(stretch(p, '2025-11-02T12:00:00Z'), [
      'Default',
      '2025-11-02T07:30:00.000Z',
      '2025-11-03T14:00:00.000Z',
    ]);
  });
});
