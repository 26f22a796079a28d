import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, stat, symlink, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CheckpointInfoSchema, VpgStateSchema, type Vm } from '../../app/protocol';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import {
  MiB,
  call,
  errorOf,
  exportDiskInProcess,
  fillDisk,
  isStatus,
  launchSite,
  pairSites,
  pickVms,
  sha256File,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * Pre-seeded replicas with two real agents: the recovery site holds a copy of each source disk
 * (a backup restored there, say) and the source then diverges in a few places. The VPG's
 * initial sync compares block hashes and sends only the differing blocks — a small fraction of
 * the disks — and the image at the first consistent checkpoint, exported at the recovery site,
 * equals the source disks. A wrong pre-seed file is refused with a message saying what is wrong.
 */

const DISK_MIB = 32;
const BLOCK = 64 * 1024;
const say = (line: string): void => void process.stdout.write(`# ${line}\n`);

let hq: Site;
let dr: Site;
let vm: Vm;
let seedDir: string;

before(async () => {
  seedDir = await makeTempDir('tideline-preseed-');
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', { diskMiB: DISK_MIB, runArgs: ['--outbox-limit-mib', '64'] }),
    launchSite('Recovery DC', { runArgs: ['--preseed-dir', seedDir] }),
  ]);
  await pairSites(hq, dr);
  const started = await hq.agent.waitForLog((l) => l.msg === 'replication started');
  assert.equal(started['outboxLimitBytes'], 64 * MiB, '--outbox-limit-mib reached the engine');
  [vm] = pickVms(await vms(hq), 1, 2) as [Vm];
});

after(async () => {
  await cleanupAgents();
});

async function settings(preseededReplicas: { diskId: string; path: string }[]) {
  const host = (
    await call<{ hostId: string; datastores: { name: string }[] }[]>(dr, 'host.list')
  )[0];
  assert.ok(host);
  return {
    name: `pre-seeded ${Math.random().toString(36).slice(2, 6)}`,
    vmIds: [vm.vmId],
    recoverySiteId: dr.siteId,
    recoveryHostId: host.hostId,
    recoveryDatastore: host.datastores[0]?.name,
    journal: { historySeconds: 3600, hardLimitBytes: 1024 * MiB, warningBytes: 512 * MiB },
    checkpointIntervalMs: 2000,
    rpoTargetSeconds: 30,
    preseededReplicas,
  };
}

test('a wrong pre-seed file is refused and nothing is created', async () => {
  const [first] = vm.disks;
  assert.ok(first);
  const missing = join(seedDir, 'nope.raw');
  const small = join(seedDir, 'small.raw');
  await (await open(small, 'w')).close();
  await truncate(small, MiB);
  const dir = join(seedDir, 'a-dir');
  await mkdir(dir);
  // A file of the right size outside the pre-seed directory, and a symlink to it inside.
  const outside = join(await makeTempDir('tideline-outside-'), 'secret.raw');
  await (await open(outside, 'w')).close();
  await truncate(outside, DISK_MIB * MiB);
  const link = join(seedDir, 'link.raw');
  await symlink(outside, link);
  const refused =
    /is not a file the recovery site accepts: copy the image into its pre-seed directory/;
  const cases: [string, string, RegExp][] = [
    ['missing', missing, /does not exist: no file .*nope\.raw/],
    ['wrong size', small, /is 1048576 bytes .* but the disk is 33554432 bytes .*raw image/],
    ['a directory', dir, /is a directory/],
    ['relative', 'backups/disk.raw', /absolute path/],
    ['outside the pre-seed directory', outside, refused],
    ['a symlink out of it', link, refused],
    ['a system file', '/etc/passwd', refused],
    ['a missing file elsewhere', '/nonexistent/disk.raw', refused],
  ];
  const messages = new Map<string, string>();
  for (const [what, path, message] of cases) {
    const error = await errorOf(hq, 'vpg.create', await settings([{ diskId: first.diskId, path }]));
    assert.match(error.message, message, `${what}: ${error.message}`);
    messages.set(what, error.message.replace(path, 'PATH'));
  }
  // A refusal says nothing about a file outside: an existing one reads as a missing one.
  assert.equal(messages.get('a system file'), messages.get('a missing file elsewhere'));
  assert.equal(messages.get('outside the pre-seed directory'), messages.get('a system file'));
  const listed = VpgStateSchema.array().parse(await call(hq, 'vpg.list'));
  assert.equal(listed.length, 0, 'no VPG was left behind');
  assert.equal(VpgStateSchema.array().parse(await call(dr, 'vpg.list')).length, 0);
});

test('initial sync against pre-seeded replicas sends only the blocks that differ', async () => {
  // The disks hold data; a copy of each goes to the recovery site's host.
  const preseeded: { diskId: string; path: string }[] = [];
  for (const disk of vm.disks) {
    await fillDisk(disk.location);
    const path = join(seedDir, `${disk.diskId}.raw`);
    await copyFile(disk.location, path);
    preseeded.push({ diskId: disk.diskId, path });
  }
  // Then the source moves on in a few places: new data in 5 blocks, one block zeroed.
  let changed = 0;
  for (const disk of vm.disks) {
    const handle = await open(disk.location, 'r+');
    for (const block of [1, 17, 18, 200, 400]) {
      await handle.write(randomBytes(1000), 0, 1000, block * BLOCK + 300);
      changed += BLOCK;
    }
    await handle.write(Buffer.alloc(BLOCK), 0, BLOCK, 100 * BLOCK);
    changed += BLOCK;
    await handle.close();
  }
  const diskBytes = vm.disks.reduce((n, d) => n + d.sizeBytes, 0);

  const created = VpgStateSchema.parse(await call(hq, 'vpg.create', await settings(preseeded)));
  const vpgId = created.vpgId;
  const done = await hq.agent.waitForLog(
    (l) => l.msg === 'initial sync done' && l['vpgId'] === vpgId,
    60_000,
  );
  const sent = Number(done['dataBytes']);
  const scanned = Number(done['scannedBytes']);
  say(
    `pre-seeded initial sync: ${sent} bytes sent of ${scanned} examined (${((100 * sent) / scanned).toFixed(2)} %), ${String(done['hashRequests'])} hash requests, ${String(done['records'])} records`,
  );
  assert.equal(scanned, diskBytes, 'every byte of both disks was compared');
  assert.ok(sent > 0 && sent <= changed, `only the changed blocks went (${sent} ≤ ${changed})`);
  assert.ok(sent < diskBytes / 50, 'a small fraction of the disks');
  // The admin's files are left as they were.
  for (const p of preseeded) assert.equal((await stat(p.path)).size, DISK_MIB * MiB);

  await untilVpg(hq, vpgId, isStatus('Protecting'), 'Protecting', 60_000);
  const checkpoints = CheckpointInfoSchema.array().parse(
    await call(hq, 'checkpoint.list', { vpgId }),
  );
  const first = checkpoints.find((c) => c.inconsistent !== true && c.confirmed);
  assert.ok(first, `a consistent, confirmed checkpoint: ${JSON.stringify(checkpoints)}`);
  const expected = await Promise.all(vm.disks.map((d) => sha256File(d.location)));

  await stopSite(dr);
  for (const [i, disk] of vm.disks.entries()) {
    const image = await exportDiskInProcess(dr.creds.dataDir, vpgId, disk.diskId, first.seq);
    assert.equal(image.sha256, expected[i], `disk ${disk.diskId} at checkpoint ${first.seq}`);
  }
});
