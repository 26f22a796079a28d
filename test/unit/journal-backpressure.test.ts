/**
 * Back-pressure at the journal's hard limit (replication/target-vpg.ts roomForRecords): a
 * real TargetVpg and journal on real files, fed records as fast as it takes them. Append
 * writes each byte once, apply reads and writes it again, so without back-pressure the
 * journal runs past its limit by whatever apply has not caught up with (GiBs in
 * bench:replication, bench/README.md § 15). With it, records wait for apply past the hold
 * threshold, unless a recovery pin holds apply on purpose: then history is kept, as before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { encodeRecord, type DataRecord } from '../../agent/replication/record';
import { TargetVpg, holdThreshold } from '../../agent/replication/target-vpg';
import type { StoredVpg } from '../../agent/replication/vpg-store';

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
const MiB = 1024 * 1024;
const LIMIT = 128 * MiB;
const DISK_BYTES = 64 * MiB;
/** Records per receive call, 1 MiB each: a group the link hands over at once. */
const BATCH = 8;
const VPG_ID = 'vpg-limit';

let root: string;
let target: TargetVpg | undefined;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tideline-backpressure-'));
});
after(async () => {
  await target?.close();
  await rm(root, { recursive: true, force: true });
});

function storedVpg(): StoredVpg {
  return {
    vpgId: VPG_ID,
    name: 'limit',
    vmIds: ['vm-1'],
    protectedSiteId: 'site-a',
    recoverySiteId: 'site-b',
    recoveryHostId: 'host-1',
    recoveryDatastore: 'ds1',
    journal: { historySeconds: 3600, hardLimitBytes: LIMIT, warningBytes: LIMIT / 2 },
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 30,
    disks: [{ vmId: 'vm-1', diskId: 'd1', sizeBytes: DISK_BYTES }],
    status: 'Protecting',
    createdAt: Date.now(),
    version: 0,
    role: 'target',
    peerAgentId: 'agent-a',
  };
}

const payloads = Array.from({ length: 4 }, () => randomBytes(MiB));
let nextSeq = 1;

/** Feeds `mib` MiB of 1 MiB writes; returns the largest journal size seen after a batch. */
async function feed(vpg: TargetVpg, mib: number): Promise<number> {
  let worst = 0;
  for (let sent = 0; sent < mib; sent += BATCH) {
    const batch = [];
    for (let i = 0; i < BATCH; i += 1) {
      const seq = nextSeq++;
      const record: DataRecord = {
        kind: 'write',
        vpgId: VPG_ID,
        seq,
        sourceTime: Date.now(),
        diskId: 'd1',
        offset: (seq % (DISK_BYTES / MiB)) * MiB,
        data: payloads[seq % payloads.length] as Buffer,
      };
      batch.push({ record, encoded: encodeRecord(record) });
    }
    const last = await vpg.receive(batch, () => assert.fail('no gap was sent'));
    assert.equal(last, nextSeq - 1, 'every record was persisted');
    worst = Math.max(worst, vpg.usage().bytes);
  }
  return worst;
}

describe('journal back-pressure', { timeout: 120_000 }, () => {
  it('holds records past the hold threshold until apply frees room', async () => {
    const passes: { historyReduced: boolean; recordsHeld: boolean }[] = [];
    target = await TargetVpg.open(storedVpg(), {
      dataDir: root,
      log,
      onRetention: (_vpg, result) =>
        passes.push({
          historyReduced: result.historyReduced !== undefined,
          recordsHeld: result.recordsHeld,
        }),
    });
    const worst = await feed(target, 512);
    // A batch appended just below the threshold is the most it can go past it.
    const bound = holdThreshold(LIMIT) + BATCH * (MiB + 64);
    assert.ok(
      worst <= bound,
      `the journal stayed within ${bound / MiB} MiB: worst ${(worst / MiB).toFixed(1)} MiB`,
    );
    const usage = target.usage();
    assert.ok(usage.appliedSeq > 0, 'apply freed the room');
    assert.equal(usage.lastSeq, 512);
    // The passes that ran while records waited say so (the journal alert tells the admin).
    assert.ok(
      passes.some((p) => p.recordsHeld && p.historyReduced),
      `a pass reported records held: ${JSON.stringify(passes.slice(0, 5))}`,
    );
  });

  it('keeps history past the limit while a recovery pin holds apply', async () => {
    const vpg = target ?? assert.fail('the first test opened the target');
    const journal = vpg.openJournal;
    await journal.pin('test-failover', 'applied');
    const worst = await feed(vpg, 256);
    assert.ok(
      worst > holdThreshold(LIMIT) + 64 * MiB,
      `records were not held while pinned: worst ${(worst / MiB).toFixed(1)} MiB`,
    );
    await journal.unpin('test-failover');
    // Back under the threshold once the pin is gone: the next records start a pass and wait.
    await feed(vpg, BATCH);
    assert.ok(vpg.usage().bytes <= holdThreshold(LIMIT) + BATCH * (MiB + 64));
  });
});
