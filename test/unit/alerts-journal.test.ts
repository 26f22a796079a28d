import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { AlertStore } from '../../agent/alerts/alert-store';
import { JournalAlerts, type JournalRetentionReport } from '../../agent/alerts/journal-alerts';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MiB = 1024 ** 2;

function report(patch: Partial<JournalRetentionReport>): JournalRetentionReport {
  return {
    vpgId: 'vpg-1',
    vpgName: 'Web tier',
    time: T0,
    historyReduced: false,
    recordsHeld: false,
    historyMs: 4 * HOUR,
    oldestSourceTime: T0 - 4 * HOUR,
    bytes: 10 * MiB,
    warningBytes: 80 * MiB,
    hardLimitBytes: 100 * MiB,
    ...patch,
  };
}

describe('journal alerts and the alert store', () => {
  let dir: string;
  let store: AlertStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'alerts-'));
    store = new AlertStore({ file: join(dir, 'alerts.json'), log, maxAlerts: 5 });
  });
  afterEach(async () => {
    await store.stop();
    await store.flushed();
    await rm(dir, { recursive: true, force: true });
  });

  it('size warning: raised above warningBytes, once, cleared below', () => {
    const journal = new JournalAlerts(store);
    journal.retention(report({ bytes: 81 * MiB, time: T0 }));
    journal.retention(report({ bytes: 90 * MiB, time: T0 + 10_000 }));
    assert.equal(store.list().length, 1);
    assert.match(store.list()[0]!.message, /81 MiB, above its warning size 80 MiB/);
    journal.retention(report({ bytes: 70 * MiB, time: T0 + 20_000 }));
    const [alert] = store.list();
    assert.equal(alert?.kind, 'journal-size-warning');
    assert.equal(alert?.raisedAt, T0);
    assert.equal(alert?.clearedAt, T0 + 20_000);
  });

  it('history reduced: stays raised until the journal reaches back the whole window', () => {
    const journal = new JournalAlerts(store);
    journal.retention(report({ historyReduced: true, oldestSourceTime: T0 - HOUR }));
    // No reduction in this pass, but only 1 h 10 min of the 4 h window is there.
    journal.retention(report({ time: T0 + 10 * 60_000, oldestSourceTime: T0 - HOUR }));
    assert.equal(store.list({ state: 'raised' }).length, 1);
    const back = T0 + 3 * HOUR;
    journal.retention(report({ time: back, oldestSourceTime: back - 4 * HOUR }));
    const [alert] = store.list({ kind: 'journal-history-reduced' });
    assert.equal(alert?.clearedAt, back);
  });

  it('history reduced: says when writes wait at the protected site, and stops saying it', () => {
    const journal = new JournalAlerts(store);
    journal.retention(report({ historyReduced: true, oldestSourceTime: T0 - HOUR }));
    const message = () => store.list({ kind: 'journal-history-reduced' })[0]?.message ?? '';
    assert.doesNotMatch(message(), /wait at the protected site/);
    journal.retention(
      report({ time: T0 + 1_000, historyReduced: true, recordsHeld: true, oldestSourceTime: T0 }),
    );
    assert.equal(store.list().length, 1, 'the same alert, its message updated');
    assert.match(message(), /wait at the protected site and the RPO grows/);
    journal.retention(report({ time: T0 + 2_000, historyReduced: true, oldestSourceTime: T0 }));
    assert.doesNotMatch(message(), /wait at the protected site/);
  });

  it('keeps a bounded history, dropping the oldest cleared alerts first', () => {
    const first = store.raise({ kind: 'rpo', vpgId: 'keep', vpgName: 'k', message: 'm' }, 1);
    for (let i = 0; i < 8; i += 1) {
      const a = store.raise({ kind: 'rpo', vpgId: `v${i}`, vpgName: 'v', message: 'm' }, 10 + i);
      store.clear(a.alertId, 20 + i);
    }
    const all = store.list();
    assert.equal(all.length, 5);
    assert.ok(
      all.some((a) => a.alertId === first.alertId),
      'the raised alert is kept',
    );
    assert.deepEqual(
      all.map((a) => a.vpgId),
      ['v7', 'v6', 'v5', 'v4', 'keep'],
      'newest first',
    );
    assert.deepEqual(
      store.list({ state: 'cleared', limit: 2 }).map((a) => a.vpgId),
      ['v7', 'v6'],
    );
  });
});
