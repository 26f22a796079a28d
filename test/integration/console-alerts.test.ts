import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AlertSchema } from '../../app/alerts/alert-schemas';
import type { AlertsChanged, ConsoleAlert, VpgState } from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  isStatus,
  launchSite,
  pairSites,
  startSite,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * The console's alerts against real agents: the protected site's agent runs with a 2 s grace;
 * its VPG (3 s RPO target) loses the recovery agent, so the agent raises an RPO alert. The
 * console hears it as alerts.changed 'raised' with the site and agent, lists it, follows its
 * worst RPO, acknowledges it through the agent, and hears it cleared once the recovery agent
 * is back. A console that starts while the alert is raised lists it, never as news.
 */

const GRACE_S = 2;
let hq: Site;
let dr: Site;
let vpg: VpgState;
const dirs: string[] = [];

function newCore(): ConsoleCore {
  const dir = mkdtempSync(join(tmpdir(), 'tl-console-alerts-'));
  dirs.push(dir);
  const core = new ConsoleCore({
    settings: openNodeSettings(dir),
    mode: 'browser',
    connectTimeoutMs: 5000,
    callTimeoutMs: 5000,
  });
  core.seed([
    { address: hq.agent.address, token: hq.creds.token, fingerprint: hq.creds.fingerprint },
  ]);
  return core;
}

/** Every alerts.changed from now on, and a wait for the first that `match` accepts. */
function follow(core: ConsoleCore) {
  const seen: AlertsChanged[] = [];
  const waiters: { match: (c: AlertsChanged) => boolean; resolve: (c: AlertsChanged) => void }[] =
    [];
  core.events.on('alerts.changed', (c) => {
    seen.push(c);
    for (const w of [...waiters]) {
      if (!w.match(c)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(c);
    }
  });
  const until = (match: (c: AlertsChanged) => boolean, what: string, timeoutMs = 30_000) => {
    const already = seen.find(match);
    if (already) return Promise.resolve(already);
    return new Promise<AlertsChanged>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(seen)}`)),
        timeoutMs,
      );
      waiters.push({
        match,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  };
  return { seen, until };
}

const alertOf = (c: AlertsChanged): ConsoleAlert =>
  c.change === 'agent' ? assert.fail('expected one alert') : c.alert;

before(async () => {
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', { runArgs: ['--rpo-grace-seconds', String(GRACE_S)] }),
    launchSite('Recovery DC'),
  ]);
  await pairSites(hq, dr);
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vpg = await createVpg(hq, dr, {
    name: 'Web tier',
    vmIds: [vm.vmId],
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 3,
  });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
});
after(async () => {
  await cleanupAgents();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('console alerts from a real agent', { timeout: 150_000 }, () => {
  it('raised, listed, worst RPO followed, acknowledged, cleared; listed, not news, at start', async () => {
    const core = newCore();
    const changes = follow(core);
    core.start();
    let late: ConsoleCore | undefined;
    try {
      await changes.until((c) => c.change === 'agent', 'the agent’s alerts listed');
      assert.deepEqual(core.listAlerts().alerts, [], 'no alert while the RPO is met');

      await stopSite(dr);
      const raised = alertOf(
        await changes.until((c) => c.change === 'raised', 'alert.raised', 60_000),
      );
      assert.equal(raised.kind, 'rpo');
      assert.equal(raised.vpgId, vpg.vpgId);
      assert.equal(raised.vpgName, 'Web tier');
      assert.equal(raised.siteId, hq.siteId);
      assert.equal(raised.rpoTargetSeconds, 3);
      assert.deepEqual(
        core.listAlerts().alerts.map((a) => a.alertId),
        [raised.alertId],
      );
      const worse = alertOf(
        await changes.until(
          (c) =>
            c.change === 'updated' &&
            (c.alert.worstRpoSeconds ?? 0) > (raised.worstRpoSeconds ?? 0),
          'a worse RPO followed from rpo.tick',
        ),
      );
      assert.equal(worse.alertId, raised.alertId);

      // A console that starts now lists the raised alert as the agent's, not as 'raised'.
      late = newCore();
      const lateChanges = follow(late);
      late.start();
      const listed = await lateChanges.until(
        (c) => c.change === 'agent' && c.alerts.length > 0,
        'the raised alert listed by a console that starts late',
      );
      assert.equal(listed.change === 'agent' && listed.alerts[0]?.alertId, raised.alertId);
      assert.equal(lateChanges.seen.filter((c) => c.change === 'raised').length, 0);

      const key = raised.agentKey;
      const acked = await core.handlers['alerts.ack'](
        { agentKey: key, alertId: raised.alertId },
        undefined,
      );
      assert.ok(acked.acknowledgedAt !== undefined);
      const onAgent = AlertSchema.array().parse(await call(hq, 'alert.list', { vpgId: vpg.vpgId }));
      assert.equal(onAgent[0]?.acknowledgedAt, acked.acknowledgedAt, 'the agent keeps the ack');
      await startSite(dr);
      const cleared = alertOf(
        await changes.until((c) => c.change === 'cleared', 'alert.cleared', 90_000),
      );
      assert.equal(cleared.alertId, raised.alertId);
      assert.ok(cleared.clearedAt !== undefined);
      assert.equal(cleared.acknowledgedAt, acked.acknowledgedAt, 'still acknowledged');
      assert.equal(core.listAlerts().alerts[0]?.clearedAt, cleared.clearedAt);
    } finally {
      await late?.stop();
      await core.stop();
    }
  });
});
