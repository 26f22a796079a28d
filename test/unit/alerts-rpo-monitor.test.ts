import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Alert } from '../../app/alerts/alert-schemas';
import type { RpoTick, VpgStatus } from '../../app/protocol';
import { AlertStore } from '../../agent/alerts/alert-store';
import { RpoMonitor, type RpoTargetInForce } from '../../agent/alerts/rpo-monitor';

const log = pino({ level: 'silent' });
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

function tick(
  second: number,
  rpoSeconds: number | undefined,
  status: VpgStatus = 'Protecting',
): RpoTick {
  return {
    vpgId: 'vpg-1',
    time: T0 + second * 1000,
    ...(rpoSeconds !== undefined && { rpoSeconds }),
    rpoTargetSeconds: 10,
    writtenBytesPerSecond: 0,
    sentBytesPerSecond: 0,
    backlogBytes: 0,
    journalBytes: 0,
    journalHardLimitBytes: 1,
    status,
  };
}

describe('RPO monitor (ticks carry the clock)', () => {
  let dir: string;
  let store: AlertStore;
  let events: { event: string; alert: Alert }[];
  let monitor: RpoMonitor;
  let target: RpoTargetInForce | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'alerts-'));
    events = [];
    target = undefined;
    store = new AlertStore({
      file: join(dir, 'alerts.json'),
      log,
      notify: (event, alert) => events.push({ event, alert }),
    });
    monitor = new RpoMonitor({
      store,
      graceSeconds: 60,
      vpgName: () => 'Web tier',
      targetFor: () => target,
    });
  });
  afterEach(async () => {
    await store.stop();
    await store.flushed();
    await rm(dir, { recursive: true, force: true });
  });

  /** RPO `rpo(s)` every second from `from` to `to` inclusive. */
  function run(from: number, to: number, rpo: (s: number) => number | undefined): void {
    for (let s = from; s <= to; s += 1) monitor.tick(tick(s, rpo(s)));
  }

  it('raises only once the breach lasted longer than the grace, with the worst RPO', () => {
    run(0, 9, () => 5);
    run(10, 70, (s) => s); // over the 10 s target from second 10 (11 > 10 from second 11)
    assert.equal(events.length, 0, 'not raised at exactly the grace period');
    run(71, 72, (s) => s);
    assert.equal(events.length, 1);
    const raised = events[0]!.alert;
    assert.equal(raised.kind, 'rpo');
    assert.equal(raised.vpgName, 'Web tier');
    assert.equal(raised.timeframeName, 'Default');
    assert.equal(raised.rpoTargetSeconds, 10);
    assert.equal(raised.raisedAt, T0 + 72_000); // breach from second 11, grace over after 72
    assert.equal(raised.worstRpoSeconds, 72);
    assert.match(raised.message, new RegExp(new Date(T0 + 11_000).toISOString()));
    assert.equal(raised.clearedAt, undefined);
  });

  it('keeps the worst RPO while raised and clears at the first tick back under the target', () => {
    run(0, 100, () => 50);
    run(101, 110, () => 90);
    run(111, 120, () => 30);
    assert.equal(events.length, 1);
    assert.equal(store.list()[0]!.worstRpoSeconds, 90);
    monitor.tick(tick(121, 10)); // at the target: met
    assert.equal(events.length, 2);
    const cleared = events[1]!;
    assert.equal(cleared.event, 'cleared');
    assert.equal(cleared.alert.clearedAt, T0 + 121_000);
    assert.equal(cleared.alert.worstRpoSeconds, 90);
    assert.deepEqual(store.list({ state: 'raised' }), []);
  });

  it('does not raise for breaches just shorter than the grace, however often', () => {
    for (let cycle = 0; cycle < 5; cycle += 1) {
      const start = cycle * 61;
      run(start, start + 59, () => 100); // 59 s over the target (60 ticks)
      monitor.tick(tick(start + 60, 3));
    }
    assert.equal(events.length, 0);
  });

  it('judges against the target in force (the policy scheduler), not the tick’s', () => {
    target = { targetSeconds: 300, timeframeName: 'Business hours' };
    run(0, 120, () => 200);
    assert.equal(events.length, 0);
    target = { targetSeconds: 60, timeframeName: 'Nights' };
    run(121, 190, () => 200);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.alert.timeframeName, 'Nights');
    assert.equal(events[0]!.alert.rpoTargetSeconds, 60);
    // The next timeframe relaxes the target: cleared though the RPO is unchanged.
    target = { targetSeconds: 900, timeframeName: 'Weekend' };
    monitor.tick(tick(191, 200));
    assert.equal(events[1]?.event, 'cleared');
  });

  it('no checkpoint yet: a breach only once the VPG is protecting, not while seeding', () => {
    for (let s = 0; s <= 200; s += 1) monitor.tick(tick(s, undefined, 'Seeding'));
    assert.equal(events.length, 0);
    for (let s = 201; s <= 262; s += 1) monitor.tick(tick(s, undefined, 'RpoNotMet'));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.alert.worstRpoSeconds, undefined);
    assert.match(events[0]!.alert.message, /no checkpoint yet/);
  });

  it('persists alerts; a raised alert goes on after a restart and is acknowledged', async () => {
    run(0, 70, () => 40);
    await store.flushed();
    const reloaded = new AlertStore({ file: join(dir, 'alerts.json'), log });
    await reloaded.load();
    const [alert] = reloaded.list();
    assert.ok(alert !== undefined && alert.clearedAt === undefined);
    const restarted = new RpoMonitor({ store: reloaded, graceSeconds: 60, vpgName: () => 'x' });
    restarted.tick(tick(71, 45));
    assert.equal(reloaded.list().length, 1, 'the same alert, not a second one');
    restarted.tick(tick(72, 2));
    assert.equal(reloaded.list()[0]!.clearedAt, T0 + 72_000);
    assert.equal(reloaded.list()[0]!.worstRpoSeconds, 45);
    const acked = await reloaded.ack(alert.alertId);
    assert.equal(typeof acked.acknowledgedAt, 'number');
    const file = JSON.parse(await readFile(join(dir, 'alerts.json'), 'utf8')) as {
      alerts: Alert[];
    };
    assert.equal(file.alerts[0]!.acknowledgedAt, acked.acknowledgedAt);
    await assert.rejects(reloaded.ack('no-such-alert'), { code: 'NOT_FOUND' });
  });
});
