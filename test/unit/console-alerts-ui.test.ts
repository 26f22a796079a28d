import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsoleAlert } from '../../app/protocol';
import {
  NO_FILTERS,
  alertVpgs,
  applyAlertsChange,
  filterAlerts,
  toAlertMap,
  unacknowledgedRaised,
} from '../../renderer/pages/alerts/alert-list';

function alert(patch: Partial<ConsoleAlert>): ConsoleAlert {
  return {
    alertId: 'x',
    kind: 'rpo',
    vpgId: 'web',
    vpgName: 'Web tier',
    message: 'RPO over target',
    timeframeName: 'Office hours',
    rpoTargetSeconds: 30,
    worstRpoSeconds: 45,
    raisedAt: 1000,
    siteId: 'hq',
    agentKey: 'a1',
    ...patch,
  };
}

const alerts = toAlertMap([
  alert({ alertId: 'raised', raisedAt: 3000 }),
  alert({ alertId: 'acked', raisedAt: 2000, acknowledgedAt: 2500 }),
  alert({ alertId: 'cleared', raisedAt: 1000, clearedAt: 1500, vpgId: 'db', vpgName: 'Databases' }),
  alert({
    alertId: 'journal',
    kind: 'journal-size-warning',
    raisedAt: 500,
    siteId: 'dr',
    agentKey: 'a2',
    vpgName: 'Web tier',
    message: 'Journal of "Web tier" is at 82 % of its hard limit',
    timeframeName: undefined,
  }),
]);
const names: Record<string, string> = { hq: 'Headquarters', dr: 'Recovery DC' };
const siteName = (id: string): string => names[id] ?? id;
const ids = (f: Partial<typeof NO_FILTERS>): string[] =>
  filterAlerts(alerts, { ...NO_FILTERS, ...f }, siteName).map((a) => a.alertId);

describe('the Alerts page’s list', () => {
  it('filters by state, acknowledged, VPG, site and words, newest first', () => {
    assert.deepEqual(ids({}), ['raised', 'acked', 'cleared', 'journal']);
    assert.deepEqual(ids({ state: 'raised' }), ['raised', 'acked', 'journal']);
    assert.deepEqual(ids({ state: 'cleared' }), ['cleared']);
    assert.deepEqual(ids({ acknowledged: 'no' }), ['raised', 'cleared', 'journal']);
    assert.deepEqual(ids({ acknowledged: 'yes' }), ['acked']);
    assert.deepEqual(ids({ vpgId: 'db' }), ['cleared']);
    assert.deepEqual(ids({ siteId: 'dr' }), ['journal']);
    assert.deepEqual(ids({ text: '  recovery   JOURNAL ' }), ['journal'], 'site name and kind');
    assert.deepEqual(ids({ text: 'office databases' }), ['cleared'], 'every word must match');
    assert.deepEqual(ids({ state: 'raised', acknowledged: 'no', siteId: 'hq' }), ['raised']);
  });

  it('counts the raised alerts nobody acknowledged, for the nav badge', () => {
    assert.equal(unacknowledgedRaised(alerts), 2);
    assert.equal(unacknowledgedRaised({}), 0);
  });

  it('applies alerts.changed: one alert, or an agent’s alerts as a whole', () => {
    const acked = applyAlertsChange(alerts, {
      change: 'acknowledged',
      alert: alert({ alertId: 'raised', raisedAt: 3000, acknowledgedAt: 4000 }),
    });
    assert.equal(unacknowledgedRaised(acked), 1);
    assert.equal(Object.keys(acked).length, 4);
    const gone = applyAlertsChange(acked, { change: 'agent', agentKey: 'a2', alerts: [] });
    assert.deepEqual(Object.keys(gone).sort(), ['a1/acked', 'a1/cleared', 'a1/raised']);
    const back = applyAlertsChange(gone, {
      change: 'agent',
      agentKey: 'a1',
      alerts: [alert({ alertId: 'only' })],
    });
    assert.deepEqual(Object.keys(back), ['a1/only']);
    assert.deepEqual(alertVpgs(alerts), [
      { vpgId: 'db', name: 'Databases' },
      { vpgId: 'web', name: 'Web tier' },
    ]);
  });
});
