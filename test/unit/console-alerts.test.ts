import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Alert } from '../../app/alerts/alert-schemas';
import { rpoAlertNotification } from '../../app/alerts/alert-text';
import { TidelineError } from '../../app/errors';
import type { AlertsChanged, ConsoleAlert, RpoTick } from '../../app/protocol';
import { merge } from '../../main/services/alerts/alert-store';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  FakeAgent,
  TEST_TOKEN,
  agentState,
  makeIdentity,
  untilEstate,
  type TestIdentity,
} from './console-fake-agent';

function rpoAlert(patch: Partial<Alert> = {}): Alert {
  return {
    alertId: 'al-1',
    kind: 'rpo',
    vpgId: 'vpg-1',
    vpgName: 'Web tier',
    message: 'VPG "Web tier": RPO 9 s is over the 5 s target',
    timeframeName: 'Office hours',
    rpoTargetSeconds: 5,
    worstRpoSeconds: 9,
    raisedAt: 1_000_000,
    ...patch,
  };
}

function tick(vpgId: string, rpoSeconds: number): RpoTick {
  return {
    vpgId,
    time: Date.now(),
    rpoSeconds,
    rpoTargetSeconds: 5,
    writtenBytesPerSecond: 0,
    sentBytesPerSecond: 0,
    backlogBytes: 0,
    journalBytes: 0,
    journalHardLimitBytes: 1,
    status: 'RpoNotMet',
  };
}

/** The next alerts.changed that `match` accepts. */
function nextChange(
  core: ConsoleCore,
  match: (c: AlertsChanged) => boolean,
  what: string,
): Promise<AlertsChanged> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      core.events.off('alerts.changed', listener);
      reject(new Error(`timed out waiting for ${what}`));
    }, 5000);
    const listener = (c: AlertsChanged): void => {
      if (!match(c)) return;
      clearTimeout(timer);
      core.events.off('alerts.changed', listener);
      resolve(c);
    };
    core.events.on('alerts.changed', listener);
  });
}

const alertOf = (c: AlertsChanged): ConsoleAlert | undefined =>
  c.change === 'agent' ? undefined : c.alert;

describe('console alerts against an in-test agent', () => {
  let id: TestIdentity;
  let dir: string;
  before(async () => {
    id = await makeIdentity('alerts');
    dir = mkdtempSync(join(tmpdir(), 'tl-console-alerts-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists on connect, follows raised, worst RPO and cleared, acknowledges, drops on loss', async () => {
    const agent = await new FakeAgent({ identity: id, siteId: 'hq' }).start();
    agent.alerts.push(
      rpoAlert({ alertId: 'old', clearedAt: 1_000_500, raisedAt: 900_000 }),
      rpoAlert({ alertId: 'open', vpgId: 'vpg-2', vpgName: 'Files', raisedAt: 950_000 }),
    );
    const core = new ConsoleCore({
      settings: openNodeSettings(dir),
      mode: 'browser',
      backoff: { initialMs: 50, maxMs: 200 },
      coalesceMs: 5,
      connectTimeoutMs: 3000,
      callTimeoutMs: 3000,
    });
    const changes: AlertsChanged[] = [];
    core.events.on('alerts.changed', (c) => changes.push(c));
    core.start();
    try {
      const listed = nextChange(core, (c) => c.change === 'agent', 'the agent’s alerts');
      const view = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      const loaded = await listed;
      assert.equal(loaded.change, 'agent');
      assert.deepEqual(
        (await core.handlers['alerts.list'](undefined, undefined)).alerts.map((a) => [
          a.alertId,
          a.siteId,
          a.agentKey,
        ]),
        [
          ['open', 'hq', view.key],
          ['old', 'hq', view.key],
        ],
        'newest first, with the site and agent',
      );

      // Raised live: a 'raised' change (the desktop notification's cue).
      const raised = nextChange(core, (c) => c.change === 'raised', 'alert.raised');
      agent.alert('raised', rpoAlert({ alertId: 'new', raisedAt: 2_000_000 }));
      assert.equal(alertOf(await raised)?.alertId, 'new');
      assert.equal(alertOf(await raised)?.siteId, 'hq');

      // The agent updates the worst RPO silently: the console follows its rpo.tick.
      const worse = nextChange(core, (c) => c.change === 'updated', 'a worse RPO');
      agent.tick(tick('vpg-1', 8)); // under the worst so far: no change
      agent.tick(tick('vpg-1', 14));
      assert.equal(alertOf(await worse)?.worstRpoSeconds, 14);
      assert.equal(changes.filter((c) => c.change === 'updated').length, 1);

      const cleared = nextChange(core, (c) => c.change === 'cleared', 'alert.cleared');
      agent.alert(
        'cleared',
        rpoAlert({ alertId: 'new', raisedAt: 2_000_000, clearedAt: 2_000_900 }),
      );
      const clearedAlert = alertOf(await cleared);
      assert.equal(clearedAlert?.clearedAt, 2_000_900);
      assert.equal(clearedAlert?.worstRpoSeconds, 14, 'the worst RPO seen is kept');

      const acked = await core.handlers['alerts.ack'](
        { agentKey: view.key, alertId: 'open' },
        undefined,
      );
      assert.ok(acked.acknowledgedAt !== undefined);
      assert.equal(
        agent.alerts.find((a) => a.alertId === 'open')?.acknowledgedAt,
        acked.acknowledgedAt,
      );
      assert.equal(changes.at(-1)?.change, 'acknowledged');
      const now = (await core.handlers['alerts.list'](undefined, undefined)).alerts;
      assert.deepEqual(
        now.map((a) => [a.alertId, a.clearedAt !== undefined, a.acknowledgedAt !== undefined]),
        [
          ['new', true, false],
          ['open', false, true],
          ['old', true, false],
        ],
      );

      await assert.rejects(
        async () => core.handlers['alerts.ack']({ agentKey: view.key, alertId: 'nope' }, undefined),
        (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
      );
      await assert.rejects(
        async () =>
          core.handlers['alerts.ack']({ agentKey: 'no-such-agent', alertId: 'open' }, undefined),
        (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
      );

      // The agent goes away: its alerts go with it, and acknowledging says why it cannot.
      const dropped = nextChange(
        core,
        (c) => c.change === 'agent' && c.alerts.length === 0,
        'the alerts dropped',
      );
      await agent.stop();
      await dropped;
      assert.deepEqual((await core.handlers['alerts.list'](undefined, undefined)).alerts, []);
      await untilEstate(core, (s) => agentState(s, agent.address) === 'retrying', 'retrying');
      await assert.rejects(
        async () => core.handlers['alerts.ack']({ agentKey: view.key, alertId: 'open' }, undefined),
        (err: unknown) =>
          err instanceof TidelineError &&
          err.code === 'UNAVAILABLE' &&
          /not connected/.test(err.message),
      );

      // Back: listed again, as a whole, never as news.
      const relisted = nextChange(
        core,
        (c) => c.change === 'agent' && c.alerts.length === 3,
        'the alerts listed again',
      );
      const raisedBefore = changes.filter((c) => c.change === 'raised').length;
      await new FakeAgent({ identity: id, siteId: 'hq', port: agent.port }).start().then((back) => {
        back.alerts.push(...agent.alerts);
        return relisted.finally(() => back.stop());
      });
      assert.equal(changes.filter((c) => c.change === 'raised').length, raisedBefore);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });
});

describe('merging two reports of an alert', () => {
  const shown = (patch: Partial<Alert>): ConsoleAlert => ({
    ...rpoAlert(patch),
    siteId: 'hq',
    agentKey: 'a1',
  });

  it('never goes back from cleared or acknowledged, never shrinks the worst RPO', () => {
    const cleared = shown({ clearedAt: 5, acknowledgedAt: 6, worstRpoSeconds: 30 });
    const stale = shown({ worstRpoSeconds: 12 });
    assert.deepEqual(merge(cleared, stale), cleared);
    assert.deepEqual(merge(stale, cleared), cleared);
    assert.equal(merge(undefined, stale), stale);
  });
});

describe('the desktop notification of a raised alert', () => {
  it('names the VPG, the RPO over its target and the timeframe', () => {
    assert.deepEqual(rpoAlertNotification(rpoAlert({ worstRpoSeconds: 47.4 })), {
      title: 'RPO alert: Web tier',
      body: 'RPO 47 s over target 5 s (Office hours)',
    });
    assert.deepEqual(
      rpoAlertNotification(rpoAlert({ worstRpoSeconds: 150, rpoTargetSeconds: 60 })),
      {
        title: 'RPO alert: Web tier',
        body: 'RPO 2 min 30 s over target 1 min (Office hours)',
      },
    );
    const { worstRpoSeconds: _none, ...noRpo } = rpoAlert();
    assert.equal(
      rpoAlertNotification(noRpo)?.body,
      'RPO unknown (no checkpoint at the recovery site yet), target 5 s (Office hours)',
    );
    assert.equal(rpoAlertNotification(rpoAlert({ kind: 'journal-size-warning' })), undefined);
  });
});
