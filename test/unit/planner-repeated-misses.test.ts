import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Alert } from '../../app/alerts/alert-schemas';
import { repeatedMisses } from '../../app/planner';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 2, 20, 12); // Friday 20 March 2026, 12:00 UTC

let n = 0;
function rpoAlert(at: number, timeframeName: string, vpg = 'v1', worst = 400): Alert {
  n += 1;
  return {
    alertId: `a${n}`,
    kind: 'rpo',
    vpgId: vpg,
    vpgName: vpg === 'v1' ? 'File server' : 'Database',
    message: 'RPO over target',
    timeframeName,
    rpoTargetSeconds: 300,
    worstRpoSeconds: worst,
    raisedAt: at,
  };
}

test('the same timeframe missed on two days in the site’s zone is a repeated miss; one day is not', () => {
  const alerts: Alert[] = [
    // 23:30 UTC on Tuesday is already Wednesday 00:30 in Berlin: two days there, one in UTC.
    rpoAlert(Date.UTC(2026, 2, 17, 23, 30), 'Nights', 'v1', 700),
    rpoAlert(Date.UTC(2026, 2, 17, 21, 0), 'Nights', 'v1', 500),
    // Three alerts on one day: an outage, not a policy that does not fit.
    rpoAlert(Date.UTC(2026, 2, 19, 9), 'Business', 'v2'),
    rpoAlert(Date.UTC(2026, 2, 19, 10), 'Business', 'v2'),
    rpoAlert(Date.UTC(2026, 2, 19, 11), 'Business', 'v2'),
  ];
  assert.deepEqual(repeatedMisses(alerts, NOW, 'UTC'), []);
  const berlin = repeatedMisses(alerts, NOW, 'Europe/Berlin');
  assert.deepEqual(berlin, [
    {
      vpgId: 'v1',
      vpgName: 'File server',
      timeframeName: 'Nights',
      days: ['2026-03-17', '2026-03-18'],
      rpoTargetSeconds: 300,
      worstRpoSeconds: 700,
    },
  ]);
});

test('only RPO alerts of the last 7 days count, per VPG and timeframe', () => {
  const journal: Alert = { ...rpoAlert(NOW - 30 * HOUR, 'Business'), kind: 'journal-size-warning' };
  const alerts: Alert[] = [
    rpoAlert(NOW - 8 * 24 * HOUR, 'Business'), // too old
    rpoAlert(NOW - 2 * 24 * HOUR, 'Business'),
    journal,
    rpoAlert(NOW - 3 * 24 * HOUR, 'Business', 'v2'), // another VPG
    rpoAlert(NOW - 1 * 24 * HOUR, 'Default'),
  ];
  assert.deepEqual(repeatedMisses(alerts, NOW, 'UTC'), []);
  alerts.push(rpoAlert(NOW - 4 * 24 * HOUR, 'Business'));
  const found = repeatedMisses(alerts, NOW, 'UTC');
  assert.equal(found.length, 1);
  assert.equal(found[0]?.timeframeName, 'Business');
  assert.deepEqual(found[0]?.days, ['2026-03-16', '2026-03-18']);
});
