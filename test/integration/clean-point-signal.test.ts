import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  CheckpointInfoSchema,
  WorkloadStatusSchema,
  type CheckpointInfo,
  type VpgState,
  type WorkloadStatus,
} from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  MiB,
  call,
  createVpg,
  insertCheckpoint,
  isStatus,
  pairedSites,
  sleep,
  startSite,
  stopSite,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';

/**
 * The clean-point signal, measured at the recovery site (issue 15, item 5): a VM whose disks
 * hold text (seeded by the initial sync) writes text, then at a known time T starts writing
 * random (encrypted-looking) data. Every checkpoint before T shows no high-entropy block; the
 * first one after T with writes shows most of its blocks turned high; the bytes counted are
 * exactly the bytes the workload wrote; and the figures survive a restart of the recovery agent.
 */

const RATE = 2 * MiB;
let hq: Site;
let dr: Site;
let vpg: VpgState;
let vmId: string;

async function setLoad(settings: {
  content: 'random' | 'text';
  paused: boolean;
}): Promise<WorkloadStatus> {
  return WorkloadStatusSchema.parse(
    await call(hq, 'vm.setWorkload', { vmId, bytesPerSecond: RATE, ...settings }),
  );
}

async function listAtRecovery(): Promise<CheckpointInfo[]> {
  return CheckpointInfoSchema.array().parse(
    await call(dr, 'checkpoint.list', { vpgId: vpg.vpgId }),
  );
}

interface Totals {
  writtenBytes: number;
  writtenBlocks: number;
  highEntropyBlocks: number;
  turnedHighBlocks: number;
}

function totals(c: CheckpointInfo): Totals {
  const sum: Totals = {
    writtenBytes: 0,
    writtenBlocks: 0,
    highEntropyBlocks: 0,
    turnedHighBlocks: 0,
  };
  for (const d of c.change?.disks ?? []) {
    sum.writtenBytes += d.writtenBytes;
    sum.writtenBlocks += d.writtenBlocks;
    sum.highEntropyBlocks += d.highEntropyBlocks;
    sum.turnedHighBlocks += d.turnedHighBlocks;
  }
  return sum;
}

/** A guest's documents: text over the whole disk, so the baseline of every block is low. */
async function fillWithText(path: string): Promise<void> {
  const words = ['replica', 'journal', 'site', 'the', 'of', 'checkpoint', 'disk', 'and', 'a'];
  let line = '';
  for (let i = 0; line.length < 64 * 1024; i += 1) {
    line += `${words[(i * 5 + (i >> 2)) % words.length] as string}${i % 11 === 0 ? '.\n' : ' '}`;
  }
  const chunk = Buffer.from(line.slice(0, 64 * 1024), 'latin1');
  const handle = await open(path, 'r+');
  try {
    const { size } = await handle.stat();
    for (let at = 0; at < size; at += chunk.length) {
      await handle.write(chunk, 0, Math.min(chunk.length, size - at), at);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

before(async () => {
  [hq, dr] = await pairedSites();
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vmId = vm.vmId;
  for (const disk of vm.disks) await fillWithText(disk.location);
  vpg = await createVpg(hq, dr, { vmIds: [vmId], checkpointIntervalMs: 1000 });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
});
after(cleanupAgents);

describe('clean-point signal at the recovery site', { timeout: 120_000 }, () => {
  it('rises at the first checkpoint after random data starts, and not before', async (t) => {
    const textFrom = Date.now();
    await setLoad({ content: 'text', paused: false });
    await sleep(4500);
    // Paused: answered once the last text write is sequenced, so no text write follows T.
    await setLoad({ content: 'text', paused: true });
    await sleep(1200);
    const switchedAt = Date.now();
    const random = await setLoad({ content: 'random', paused: false });
    assert.equal(random.content, 'random');
    await sleep(4500);
    const done = await setLoad({ content: 'random', paused: true });
    const last = await insertCheckpoint(hq, vpg.vpgId, 'after the random writes');
    await waitForCheckpoint(hq, last);
    const randomPhaseMs = Date.now() - switchedAt;

    const listed = await listAtRecovery();
    const measured = listed.filter((c) => c.change !== undefined);
    assert.equal(measured.length, listed.length, 'every checkpoint of this VPG was measured');
    const before = measured.filter((c) => c.sourceTime < switchedAt && c.sourceTime > textFrom);
    const afterT = measured.filter((c) => c.sourceTime > switchedAt);
    const what = (cs: CheckpointInfo[]) =>
      cs
        .map((c) => `${c.seq}@${c.sourceTime - switchedAt}ms ${JSON.stringify(totals(c))}`)
        .join('\n');

    t.diagnostic(`checkpoints (ms from T, totals over the disks):\n${what(measured)}`);
    // Before T: text only. Nothing high, nothing turned high.
    assert.ok(
      before.filter((c) => totals(c).writtenBlocks > 0).length >= 3,
      `checkpoints with text writes before T:\n${what(before)}`,
    );
    for (const c of measured.filter((m) => m.sourceTime < switchedAt)) {
      assert.equal(totals(c).highEntropyBlocks, 0, `no high block before T:\n${what([c])}`);
      assert.equal(totals(c).turnedHighBlocks, 0);
      assert.equal(c.change?.partial, undefined);
    }

    // The first checkpoint after T: a clear rise (unless it came before the first write).
    const first = afterT[0];
    assert.ok(first, 'a checkpoint after T');
    const firstTotals = totals(first);
    if (firstTotals.writtenBlocks > 0) {
      assert.ok(
        firstTotals.turnedHighBlocks > 0.5 * firstTotals.writtenBlocks,
        `first checkpoint after T rises:\n${what(afterT)}`,
      );
    }
    const firstWriting = afterT.find((c) => totals(c).writtenBlocks > 0);
    assert.ok(firstWriting, `random writes reached a checkpoint:\n${what(afterT)}`);
    const rise = totals(firstWriting);
    assert.ok(rise.turnedHighBlocks > 0.5 * rise.writtenBlocks, what([firstWriting]));
    assert.ok(rise.highEntropyBlocks > 0.95 * rise.writtenBlocks, what([firstWriting]));

    // Bytes: exactly what the workload wrote (initial sync not counted), at about its rate.
    const sum = (cs: CheckpointInfo[]) => cs.reduce((n, c) => n + totals(c).writtenBytes, 0);
    assert.equal(sum(measured), done.bytes, 'bytes counted = bytes the workload wrote');
    const randomRate = sum(afterT) / (randomPhaseMs / 1000);
    assert.ok(
      randomRate > 0.4 * RATE && randomRate < 1.6 * RATE,
      `random phase at ${Math.round(randomRate / 1024)} KiB/s for ${RATE / 1024} KiB/s`,
    );
  });

  it('keeps the figures with the checkpoints across a restart of the recovery agent', async () => {
    const beforeRestart = await listAtRecovery();
    await stopSite(dr);
    await startSite(dr);
    const afterRestart = await listAtRecovery();
    for (const c of beforeRestart) {
      const same = afterRestart.find((a) => a.seq === c.seq);
      assert.deepEqual(same?.change, c.change, `checkpoint ${c.seq}`);
    }
  });
});
