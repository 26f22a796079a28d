import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { Journal } from '../../agent/journal/journal';
import { journalDirFor } from '../../agent/journal/layout';
import type { LinkTuning, PeerLink } from '../../agent/peer/peer-link';
import { PeerService } from '../../agent/peer/peer-service';
import { CheckpointLog } from '../../agent/replication/checkpoint-log';
import { VpgSender } from '../../agent/replication/sender';
import { TargetVpg } from '../../agent/replication/target-vpg';
import type { StoredVpg } from '../../agent/replication/vpg-store';
import { createSelfSignedIdentity } from '../../agent/security/certificate';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';

/**
 * Write-order fidelity across two disks, end to end in one process: tap → VpgSource →
 * sender → a real PeerLink (mutual TLS on 127.0.0.1) → TargetVpg's journal. The "VM" writes
 * A_k to disk A and only after A_k was acknowledged writes B_k to disk B. At every checkpoint
 * the recovery site holds, B_k is never present without A_k. The link is cut halfway (the
 * sender resumes from the target's POSITION).
 */

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
const TUNING: Partial<LinkTuning> = {
  keepaliveMs: 1000,
  windowBytes: 256 * 1024,
  maxWindowBytes: 256 * 1024, // a fixed small window: back-pressure all along
  batchBytes: 32 * 1024,
  handshakeTimeoutMs: 3000,
  backoff: { initialMs: 20, maxMs: 100 },
};
const BLOCK = 4096;
const ROUNDS = 600;
const DISK_BYTES = ROUNDS * BLOCK;
const VPG_ID = 'vpg-order';

let root: string;
const services: PeerService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.stop()));
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function peer(agentId: string): Promise<PeerService> {
  const identity = await createSelfSignedIdentity({
    commonName: `tideline-agent ${agentId}`,
    altNames: ['127.0.0.1'],
  });
  const service = new PeerService({
    agentId,
    siteId: `site-${agentId}`,
    fingerprint: identity.fingerprint,
    siteName: () => `Site ${agentId}`,
    tls: identity,
    listen: { host: '127.0.0.1', port: 0 },
    peersFile: join(root, `${agentId}-peers.json`),
    log,
    tuning: TUNING,
    onPeersChanged: () => undefined,
  });
  await service.start();
  services.push(service);
  return service;
}

async function up(link: PeerLink | undefined): Promise<PeerLink> {
  assert.ok(link);
  if (link.state !== 'connected') await once(link, 'up');
  return link;
}

let source: PeerService;
let target: PeerService;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tideline-order-'));
  source = await peer('agent-a'); // dials
  target = await peer('agent-b');
  const token = source.pairingToken();
  await target.pair({ address: token.address, token: token.token, fingerprint: token.fingerprint });
});

const pattern = (tag: number, k: number): Buffer => {
  const block = Buffer.alloc(BLOCK, tag);
  block.writeUInt32LE(k + 1, 0);
  return block;
};

test('B written after A was acknowledged is never at the recovery site without A', async () => {
  const toTarget = await up(source.link('agent-b'));
  const fromSource = await up(target.link('agent-a'));

  // ── recovery site: a TargetVpg fed by the link ──
  const vpg: StoredVpg = {
    vpgId: VPG_ID,
    name: 'order',
    vmIds: ['vm-1'],
    protectedSiteId: 'site-agent-a',
    recoverySiteId: 'site-agent-b',
    recoveryHostId: 'host-1',
    recoveryDatastore: 'ds1',
    journal: { historySeconds: 3600, hardLimitBytes: 1024 ** 3, warningBytes: 512 * 1024 ** 2 },
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 30,
    disks: [
      { vmId: 'vm-1', diskId: 'A', sizeBytes: DISK_BYTES },
      { vmId: 'vm-1', diskId: 'B', sizeBytes: DISK_BYTES },
    ],
    status: 'Initializing',
    createdAt: Date.now(),
    version: 0,
    role: 'target',
    peerAgentId: 'agent-a',
  };
  const targetDir = join(root, 'target');
  const journal = await TargetVpg.open(vpg, { dataDir: targetDir, log });
  fromSource.onRecords((vpgId, records) => {
    assert.equal(vpgId, VPG_ID);
    return journal.receive(records, (seq) => fromSource.sendPosition(vpgId, seq));
  });
  fromSource.onPositionRequest(() => journal.position);

  // ── protected site: tap, VpgSource with frequent checkpoints, sender ──
  const tap = new DiskTap();
  const disks = [];
  for (const id of ['A', 'B']) {
    const path = join(root, `${id}.raw`);
    await createSparseFile(path, DISK_BYTES);
    disks.push(await tap.attach(id, path));
  }
  const vpgSource = new VpgSource({
    vpgId: VPG_ID,
    dir: outboxDir(join(root, 'source'), VPG_ID),
    disks,
    limitBytes: 256 * 1024 ** 2,
    segmentBytes: 256 * 1024,
    checkpointIntervalMs: 15,
  });
  await vpgSource.open();
  for (const d of disks) await tap.protect(d.diskId, vpgSource);
  const checkpoints = new CheckpointLog({ vpgId: VPG_ID, historyMs: 3_600_000 });
  vpgSource.on('checkpoint', (c) => checkpoints.learn(c));
  const sender = new VpgSender({
    vpgId: VPG_ID,
    source: vpgSource,
    log,
    readBytes: 64 * 1024,
    retryMs: 50,
    onAcked: (seq) => checkpoints.ack(seq),
    onCheckpoint: (c) => checkpoints.learn(c),
    onFatal: (err) => assert.fail(err.message),
  });
  sender.start();
  const offAck = toTarget.onAck((vpgId, seq) => sender.onAck(seq));
  const offPosition = toTarget.onPosition((vpgId, seq) => sender.onPosition(seq));
  toTarget.on('up', () => sender.linkUp(toTarget));
  toTarget.on('down', () => sender.linkDown());
  sender.linkUp(toTarget);

  // ── the VM: A_k, acknowledged, then B_k; a named checkpoint now and then ──
  for (let k = 0; k < ROUNDS; k += 1) {
    await tap.write('A', k * BLOCK, pattern(0xaa, k));
    await tap.write('B', k * BLOCK, pattern(0xbb, k));
    if (k % 97 === 0) vpgSource.insertCheckpoint(`round-${k}`);
    if (k === ROUNDS / 2) {
      // Cut the link: the dialer reconnects, the sender resumes from POSITION.
      await toTarget.stop('test: cutting the link');
      toTarget.start();
    }
  }
  const last = vpgSource.insertCheckpoint('end');
  const confirmed = await checkpoints.waitFor(last, 20_000, () => 'the link did not catch up');
  assert.equal(confirmed.confirmed, true);

  sender.stop();
  offAck();
  offPosition();
  fromSource.onRecords(undefined);
  await vpgSource.close();
  await tap.close();
  await journal.close();

  // ── every checkpoint at the recovery site: a prefix of the VM's writes ──
  const reopened = await Journal.openExisting(journalDirFor(targetDir, VPG_ID));
  try {
    const points = reopened.checkpoints();
    assert.ok(points.length > 20, `many checkpoints (${points.length})`);
    let previous = -1;
    for (const point of points) {
      const a = await reopened.readAt('A', 0, DISK_BYTES, point.seq);
      const b = await reopened.readAt('B', 0, DISK_BYTES, point.seq);
      const count = (image: Buffer, tag: number): number => {
        let n = 0;
        while (n < ROUNDS && image.subarray(n * BLOCK, (n + 1) * BLOCK).equals(pattern(tag, n))) {
          n += 1;
        }
        // Nothing of the VM's later writes may show beyond the prefix.
        assert.ok(
          image.subarray(n * BLOCK).equals(Buffer.alloc(DISK_BYTES - n * BLOCK)),
          `checkpoint ${point.seq}: disk ${tag === 0xaa ? 'A' : 'B'} is a prefix`,
        );
        return n;
      };
      const nA = count(a, 0xaa);
      const nB = count(b, 0xbb);
      assert.ok(nB === nA || nB === nA - 1, `checkpoint ${point.seq}: A ${nA}, B ${nB}`);
      assert.ok(nA >= previous, 'checkpoints only move forward');
      previous = nA;
    }
    assert.equal(previous, ROUNDS, 'the last checkpoint holds every write');
  } finally {
    await reopened.close();
  }
});
