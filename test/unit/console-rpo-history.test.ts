import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtectionHistoryParamsSchema } from '../../app/protocol/console-api';
import { historyQuery, isolated, rpoSeries } from '../../renderer/lib/rpo-history';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const point = (time: number, rpoSeconds: number | undefined) => ({
  time,
  ...(rpoSeconds !== undefined && { rpoSeconds }),
  rpoTargetSeconds: 10,
  writtenBytesPerSecond: 0,
  sentBytesPerSecond: 0,
  backlogBytes: 0,
  journalBytes: 0,
});

describe('the RPO history card’s data', () => {
  it('asks the agent’s defaults for the hour and the day, and a week inside what is kept', () => {
    assert.deepEqual(historyQuery('hour', T0), { resolution: 'second' });
    assert.deepEqual(historyQuery('day', T0), { resolution: 'minute' });
    const week = historyQuery('week', T0);
    assert.equal(week.resolution, 'minute');
    assert.ok(week.from !== undefined && week.from > T0 - 7 * 86_400_000);
    const params = { siteId: 'hq', vpgId: 'v1', ...week };
    assert.ok(ProtectionHistoryParamsSchema.safeParse(params).success);
    assert.equal(
      ProtectionHistoryParamsSchema.safeParse({ ...params, from: T0, to: T0 - 1 }).success,
      false,
    );
  });

  it('fills every second of the span, leaving gaps where nothing or no RPO was recorded', () => {
    const series = rpoSeries({
      vpgId: 'v1',
      resolution: 'second',
      from: T0 + 200, // not on a second: the first step is the second it falls in
      to: T0 + 5000,
      points: [point(T0 + 1000, 2), point(T0 + 2000, undefined), point(T0 + 4000, 14)],
    });
    assert.deepEqual(
      series.times,
      [0, 1, 2, 3, 4, 5].map((s) => T0 + s * 1000),
    );
    assert.deepEqual(series.rpo, [null, 2, null, null, 14, null]);
    assert.equal(series.worst, 14);
    assert.equal(series.metShare, 0.5);
    assert.deepEqual(
      series.rpo.map((_, i) => isolated(series.rpo, i)),
      [false, true, false, false, true, false],
      'lone points get a mark',
    );
  });

  it('steps by the minute at minute resolution; no known RPO, no worst', () => {
    const series = rpoSeries({
      vpgId: 'v1',
      resolution: 'minute',
      from: T0,
      to: T0 + 3 * 60_000,
      points: [point(T0 + 60_000, undefined)],
    });
    assert.equal(series.times.length, 4);
    assert.deepEqual(series.rpo, [null, null, null, null]);
    assert.equal(series.worst, undefined);
    assert.equal(series.metShare, undefined);
  });
});
