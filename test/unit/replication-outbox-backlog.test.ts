import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Outbox } from '../../agent/source/outbox';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function append(outbox: Outbox, from: number, to: number): Promise<void> {
  const appends: Promise<void>[] = [];
  for (let seq = from; seq <= to; seq += 1) {
    appends.push(
      outbox.append({
        vpgId: 'vpg-1',
        seq,
        sourceTime: 1,
        kind: 'write',
        diskId: 'd',
        offset: 0,
        data: Buffer.alloc(1000),
      }),
    );
    outbox.markApplied(seq);
  }
  await Promise.all(appends);
}

test('the outbox backlog never reads negative while acknowledged segments are deleted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-backlog-'));
  dirs.push(dir);
  // 7 records of 1058 bytes fill a segment of 8 KiB.
  const outbox = new Outbox({ dir, vpgId: 'vpg-1', limitBytes: 1 << 30, segmentBytes: 8192 });
  await outbox.open();
  await append(outbox, 1, 7);
  await outbox.release(7); // the only segment is being appended to: acknowledged, kept
  await append(outbox, 8, 9); // a new segment starts
  assert.equal(outbox.backlogBytes, 2 * 1058);
  // vpg.state reads the backlog at any moment, while segments are deleted too.
  let releasing = true;
  const seen: number[] = [];
  const watch = (async () => {
    while (releasing) {
      seen.push(outbox.backlogBytes);
      await tick();
    }
  })();
  await outbox.release(8);
  releasing = false;
  await watch;
  assert.ok(seen.length > 1, 'the backlog was read while the segment was deleted');
  assert.ok(Math.min(...seen) >= 0, `never negative (min ${Math.min(...seen)})`);
  assert.equal(outbox.backlogBytes, 1058);
  await outbox.close();
});

test('the outbox backlog never counts a group commit twice: read as the commit completes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-backlog-'));
  dirs.push(dir);
  // 'fdatasync': a commit announces its records readable in the step that counts them held.
  const outbox = new Outbox({ dir, vpgId: 'vpg-1', limitBytes: 1 << 30, commit: 'fdatasync' });
  await outbox.open();
  const seen: number[] = [];
  outbox.on('readable', () => seen.push(outbox.backlogBytes));
  await append(outbox, 1, 5);
  assert.ok(seen.length > 0, 'read as a commit completed');
  assert.ok(
    Math.max(...seen) <= 5 * 1058,
    `at most the 5 records appended (${5 * 1058} bytes), read ${seen.join(', ')}`,
  );
  assert.equal(outbox.backlogBytes, 5 * 1058);
  await outbox.close();
});
