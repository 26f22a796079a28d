import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryReducedEvent, SizeEvent } from '../../agent/journal/journal';
import { planRetention } from '../../agent/journal/retention';
import {
  appendAll,
  diskSpecs,
  openJournal,
  T0,
  tempDir,
  verifyCheckpoints,
  Workload,
} from './journal-fixture';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('journal retention', () => {
  it('past the hard limit applies the oldest segments early (history-reduced) and gets under it', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [2 * MiB, MiB]);
    const workload = new Workload(
      { disks: specs, records: 400, checkpointEvery: 10, maxWrite: 16 * KiB },
      'limit',
    );
    const journal = await openJournal(root, specs, {
      segmentBytes: 64 * KiB,
      hardLimitBytes: 512 * KiB,
      warningBytes: 384 * KiB,
      now: () => T0 + 400 * 100,
    });
    const reduced: HistoryReducedEvent[] = [];
    const warnings: SizeEvent[] = [];
    const normal: SizeEvent[] = [];
    journal.on('history-reduced', (e) => reduced.push(e));
    journal.on('size-warning', (e) => warnings.push(e));
    journal.on('size-normal', (e) => normal.push(e));

    await appendAll(journal, workload, workload.next());
    const before = journal.usage();
    assert.ok(before.bytes > 512 * KiB, `${before.bytes} bytes written`);
    const result = await journal.enforceRetention();
    assert.ok(result.historyReduced !== undefined);
    assert.deepEqual(reduced, [result.historyReduced]);
    assert.equal(result.historyReduced.bytesBefore, before.bytes);
    assert.ok(result.usage.bytes <= 512 * KiB, `${result.usage.bytes} bytes left`);
    assert.equal(result.usage.bytes, result.historyReduced.bytesAfter);
    assert.ok(
      result.usage.bytes > 512 * KiB - 64 * KiB - 20 * KiB,
      'no more than needed was applied',
    );
    assert.equal(result.appliedSeq, journal.appliedSeq);
    assert.equal(result.sizeWarning, true);
    assert.equal(warnings.length, 1);
    assert.equal(result.historyReduced.oldestSourceTime, journal.checkpoints()[0]?.sourceTime);
    assert.ok(journal.checkpoints().every((c) => c.seq >= journal.appliedSeq));
    await verifyCheckpoints(journal, workload.all, specs, workload.random());

    // Again under the limit: nothing more to do, no repeated events.
    const again = await journal.enforceRetention();
    assert.equal(again.historyReduced, undefined);
    assert.equal(reduced.length, 1);
    assert.equal(warnings.length, 1, 'a warning is raised once, on crossing');

    // Everything applied: back under the warning.
    await journal.applyUpTo(journal.lastSeq);
    const after = await journal.enforceRetention();
    assert.equal(after.sizeWarning, false);
    assert.equal(after.usage.bytes, 0);
    assert.equal(normal.length, 1);
    await journal.close();
  });

  it('keeps the history window: applies up to the newest checkpoint older than it', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB]);
    const workload = new Workload(
      { disks: specs, records: 300, checkpointEvery: 10, stepMs: 1000 },
      'window',
    );
    const journal = await openJournal(root, specs, { segmentBytes: 64 * KiB, historyMs: 100_000 });
    await appendAll(journal, workload, workload.next());
    const now = T0 + 300_000; // the last record's time
    const result = await journal.enforceRetention(now);
    // Record s has time T0 + s*1000: older than the window means s < 200; checkpoints every 10.
    assert.equal(result.appliedSeq, 190);
    assert.equal(result.historyReduced, undefined);
    assert.equal(journal.checkpoints()[0]?.seq, 190);
    assert.equal(journal.usage().oldestSourceTime, T0 + 190_000);
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 12);
    assert.equal((await journal.enforceRetention(now)).appliedSeq, 190, 'idempotent');
    assert.equal((await journal.enforceRetention(now + 35_000)).appliedSeq, 230);
    await journal.close();
  });
});

describe('planRetention', () => {
  const segments = [
    { firstSeq: 1, lastSeq: 10, bytes: 100 },
    { firstSeq: 11, lastSeq: 20, bytes: 100 },
    { firstSeq: 21, lastSeq: 30, bytes: 100 },
  ];
  const checkpoints = [5, 15, 25, 30].map((seq) => ({ seq, sourceTime: seq * 10 }));

  it('stops at the first checkpoint inside the window (source clocks that step back keep more)', () => {
    const plan = planRetention({
      segments,
      checkpoints,
      appliedSeq: 0,
      cutoff: 200,
      hardLimitBytes: 1000,
    });
    assert.deepEqual(plan, { windowSeq: 15, limitSeq: undefined, bytesAfter: 200 });
    const none = planRetention({
      segments,
      checkpoints,
      appliedSeq: 15,
      cutoff: 200,
      hardLimitBytes: 1000,
    });
    assert.equal(none.windowSeq, undefined);
  });

  it('frees whole segments, oldest first, until the rest fits', () => {
    assert.deepEqual(
      planRetention({ segments, checkpoints, appliedSeq: 0, cutoff: 0, hardLimitBytes: 150 }),
      {
        windowSeq: undefined,
        limitSeq: 20,
        bytesAfter: 100,
      },
    );
    assert.deepEqual(
      planRetention({ segments, checkpoints, appliedSeq: 0, cutoff: 0, hardLimitBytes: 0 }),
      {
        windowSeq: undefined,
        limitSeq: 30,
        bytesAfter: 0,
      },
    );
    const withWindow = planRetention({
      segments,
      checkpoints,
      appliedSeq: 0,
      cutoff: 200,
      hardLimitBytes: 150,
    });
    assert.deepEqual(withWindow, { windowSeq: 15, limitSeq: 20, bytesAfter: 100 });
  });
});
