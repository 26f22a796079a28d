/**
 * What the Policies page shows of a plan (renderer/lib/plan-view.ts): per part of the drafted
 * policy, the worst forecast over the VPGs it decides, the applied policy's beside it, and the
 * least bandwidth; "Use this" rounds up; the chart's buckets keep each one's worst.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planLink, type Plan } from '../../app/planner';
import type { Policy } from '../../app/policy/policy-schemas';
import { chartSeries, framePredictions, suggestedBits } from '../../renderer/lib/plan-view';

const MB = 1e6;
const MONDAY = Date.UTC(2026, 10, 30);
const link = (bits: number): Policy => ({
  schemaVersion: 2,
  version: 1,
  timeZone: 'UTC',
  default: { rpoTargetSeconds: 600 },
  timeframes: [
    {
      id: 'business',
      name: 'Business',
      colour: '#1e88e5',
      days: [1],
      start: '00:00',
      end: '00:10',
      rpoTargetSeconds: 60,
      replicationBitsPerSecond: bits,
    },
  ],
  exceptions: [],
});

function plan(bits: number): Plan {
  const rates = new Array(20).fill(0).map((_, s) => (s < 10 ? 2 * MB : 0));
  return planLink({
    start: MONDAY,
    linkPolicy: link(bits),
    graceSeconds: 60,
    vpgs: [
      { vpgId: 'a', name: 'A', rates, rpoTargetSeconds: 300, checkpointIntervalSeconds: 5 },
      { vpgId: 'b', name: 'B', rates, rpoTargetSeconds: 300, checkpointIntervalSeconds: 5 },
    ],
  });
}

test('per part: the worst over the VPGs, before and after, and the least bandwidth', () => {
  const before = plan(8 * MB); // 1 MB/s for 4 MB/s written: missed
  const after = plan(40 * MB); // 5 MB/s: met
  const parts = framePredictions(
    { after, before, timeZone: 'UTC', measuredMinutes: {} },
    { kind: 'link', peerAgentId: 'dr' },
  );
  const business = parts.find((p) => p.key === 't:business');
  assert.equal(business?.verdict, 'met');
  // Before: at 1 MB/s the 10 minutes' 2 × 2 MB/s age 7.5 min by 00:10, and the last byte goes
  // at 40 min: the worst at the same minutes is the age at 00:10.
  assert.equal(Math.round(business?.before?.worstRpoSeconds ?? 0), 450 + 5);
  assert.equal(business?.alerts, 0);
  const least = business?.advice?.leastBitsPerSecond ?? assert.fail('no advice');
  // 4 MB/s written for 10 minutes; the oldest byte may age 55 s (60 s less the interval).
  const expected = 32 * MB * (1 - 55 / 600);
  assert.ok(Math.abs(least / expected - 1) < 0.01, `${least} against ${expected}`);
  assert.equal(suggestedBits(least), 30 * MB);
  assert.equal(suggestedBits(1), 1e6, 'at least 1 Mbit/s');
  assert.ok(parts.some((p) => p.key === 'default'));
});

test('chart buckets keep each bucket’s worst RPO, backlog and lowest target', () => {
  const p = plan(8 * MB);
  const series = chartSeries(p, 5);
  assert.equal(series.times.length, 4);
  assert.equal(series.times[1], MONDAY + 5 * 60_000);
  const worstA = Math.max(...Array.from(p.vpgs[0]?.rpoSeconds ?? []).slice(0, 5)) / 60;
  assert.equal(series.rpoMinutes[0]?.data[0], worstA);
  assert.equal(series.targetMinutes[0], 1);
  assert.equal(series.targetMinutes[3], 10);
});
