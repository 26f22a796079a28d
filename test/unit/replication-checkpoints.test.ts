import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TidelineError } from '../../app/errors';
import { CheckpointLog } from '../../agent/replication/checkpoint-log';
import { RateMeter } from '../../agent/replication/rate-meter';

const T0 = 1_700_000_000_000;

function log(historyMs = 60_000): CheckpointLog {
  return new CheckpointLog({ vpgId: 'vpg-1', historyMs, maxEntries: 100 });
}

test('a checkpoint is confirmed once the target acknowledged its seq', () => {
  const l = log();
  l.learn({ seq: 5, sourceTime: T0 });
  l.learn({ seq: 9, sourceTime: T0 + 5000, name: 'before upgrade' });
  l.learn({ seq: 5, sourceTime: T0 }); // again (from the outbox after a restart): no duplicate
  l.learn({ seq: 3, sourceTime: T0 - 5000, inconsistent: true }); // learned late, kept in order
  assert.deepEqual(
    l.list().map((c) => [c.seq, c.confirmed]),
    [
      [3, false],
      [5, false],
      [9, false],
    ],
  );
  l.ack(8);
  assert.deepEqual(
    l.list().map((c) => c.confirmed),
    [true, true, false],
  );
  assert.equal(l.newestConfirmedConsistent()?.seq, 5);
  l.ack(4); // an older ACK never moves back
  assert.equal(l.ackedSeq, 8);
  l.ack(9);
  assert.deepEqual(l.info(l.newest() ?? assert.fail()), {
    vpgId: 'vpg-1',
    seq: 9,
    sourceTime: T0 + 5000,
    name: 'before upgrade',
    confirmed: true,
  });
});

test('inconsistent checkpoints are never the RPO anchor', () => {
  const l = log();
  l.learn({ seq: 2, sourceTime: T0, inconsistent: true });
  l.ack(10);
  assert.equal(l.newestConfirmedConsistent(), undefined);
  l.learn({ seq: 11, sourceTime: T0 + 1000 });
  assert.equal(l.newestConfirmedConsistent(), undefined, 'not acknowledged yet');
  l.ack(11);
  assert.equal(l.newestConfirmedConsistent()?.seq, 11);
});

test('waitFor resolves on the ACK, times out with the reason, and fails for unknown seqs', async () => {
  const l = log();
  l.learn({ seq: 4, sourceTime: T0 });
  l.learn({ seq: 8, sourceTime: T0 + 1 });
  const waiting = l.waitFor(8, 5_000, () => 'never');
  l.ack(7);
  l.ack(8);
  assert.equal((await waiting).confirmed, true);
  assert.equal((await l.waitFor(4, 10, () => 'never')).seq, 4, 'already confirmed');
  l.learn({ seq: 12, sourceTime: T0 + 2 });
  await assert.rejects(
    l.waitFor(12, 20, () => 'the link to the recovery site is down'),
    (err: unknown) =>
      err instanceof TidelineError &&
      err.code === 'TIMEOUT' &&
      /within 0\.0 s: the link to the recovery site is down/.test(err.message),
  );
  await assert.rejects(
    l.waitFor(6, 20, () => ''),
    (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
  );
  const pending = l.waitFor(12, 5_000, () => '');
  l.close(new TidelineError('UNAVAILABLE', 'stopped'));
  await assert.rejects(pending, /stopped/);
});

test('old checkpoints leave with the history window, but never the RPO anchor', () => {
  const l = log(10_000);
  l.learn({ seq: 1, sourceTime: T0 });
  l.ack(1);
  for (let i = 1; i <= 30; i += 1) l.learn({ seq: 1 + i, sourceTime: T0 + i * 1000 });
  const seqs = l.list().map((c) => c.seq);
  assert.equal(seqs[0], 1, 'the newest confirmed consistent one stays');
  assert.ok(seqs.length <= 13, `pruned to the window (${seqs.length})`);
  assert.equal(seqs.at(-1), 31);
});

test('checkpoints the outbox never wrote are forgotten, and their waiters told', async () => {
  const l = log(60_000);
  for (const seq of [3, 7, 9]) l.learn({ seq, sourceTime: T0 + seq });
  const kept = l.waitFor(7, 5_000, () => '');
  const lost = l.waitFor(9, 5_000, () => '');
  l.forgetAbove(8);
  await assert.rejects(
    lost,
    (err: unknown) => err instanceof TidelineError && /was lost/.test(err.message),
  );
  assert.deepEqual(
    l.list().map((c) => c.seq),
    [3, 7],
  );
  // Seq 9 is handed out again, to a write: acknowledging it confirms nothing that was lost.
  l.ack(9);
  assert.equal((await kept).seq, 7);
  assert.equal(l.find(9), undefined);
});

test('rate meter: bytes per second over the last seconds', () => {
  const meter = new RateMeter(3000);
  assert.equal(meter.sample(0, 0), 0);
  meter.sample(1000, 1000);
  assert.equal(meter.sample(2000, 3000), 1500);
  meter.sample(3000, 3000);
  meter.sample(4000, 3000);
  assert.equal(meter.sample(5000, 3000), 0, 'idle for the whole window');
});
