/**
 * Slow, real parts end to end: two agents with --hypervisor libvirt on this machine's
 * libvirtd (each owning the domains of its name prefix), and a real QEMU guest (TCG) whose
 * init writes numbered records, each only after the previous one was flushed
 * (test/helpers/guest). The guest is protected while it writes, without a reboot; every
 * exported checkpoint must be a gap-free prefix of its records, through agent restarts
 * (kill -9, SIGTERM), a guest reboot and a libvirtd restart, none of which may give the guest
 * an I/O error. Then a test failover and a live failover boot the recovered disk as a new
 * domain that reads the records back, and removing the VPG leaves the guest on its own file.
 * Skipped when libvirtd does not answer at qemu:///system.
 */
import assert from 'node:assert/strict';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataDirLayout } from '../../agent/config/data-dir';
import { consoleLogPath } from '../../agent/hypervisor/libvirt/domain-registration';
import { parseDomainXml } from '../../agent/hypervisor/libvirt/domain-xml';
import { loadLibvirtSettings } from '../../agent/hypervisor/libvirt/libvirt-settings';
import { parseNetworkXml } from '../../agent/hypervisor/libvirt/network-xml';
import { groupId } from '../../agent/util/group-access';
import { CheckpointInfoSchema, type CheckpointInfo, type Vm } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import { virsh } from '../helpers/guest/guest-domain';
import { createGuestDisk, ensureGuestBuild } from '../helpers/guest/guest-image';
import { parseGuestConsole, readConsole, waitForConsole } from '../helpers/guest/guest-console';
import { readGuestRecords } from '../helpers/guest/guest-records';
import {
  createIsolatedNetwork,
  openLab,
  restartLibvirtd,
  startGuest,
  virshSkipReason,
  type Lab,
  type LabGuest,
} from '../helpers/libvirt-lab';
import {
  call,
  createVpg,
  insertCheckpoint,
  pairSites,
  sha256File,
  startSite,
  stopSite,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';
import { failovers, startTask, taskSucceeds, untilMetadata } from './failover-helpers';

const skip = await virshSkipReason();
const MiB = 1024 * 1024;
/** The guest's writer: this many records at this rate (enough to outlast every step). */
const RECORDS = 5400;
const RATE = 30;
const BOOT_MS = 180_000;

describe('libvirt: a running guest, protected and recovered', { skip }, () => {
  let lab: Lab;
  let hq: Site;
  let dr: Site;
  let guest: LabGuest;
  let vpgId: string;
  let lan: string;
  /** Records durable in the guest when each step ended (the oracle's lower bounds). */
  let floor = 0;

  before(async () => {
    await ensureGuestBuild();
    lab = await openLab('tll');
    lan = `${lab.prefix}lan`;
    await createIsolatedNetwork(lab, lan);
    const runArgs = ['--metadata-interval-seconds', '2'];
    [hq, dr] = await Promise.all([
      lab.launchSite('Headquarters', 'hq-', runArgs),
      lab.launchSite('Recovery DC', 'dr-', runArgs),
    ]);
    await pairSites(hq, dr);
    // In the lab's storage pool, as VM images are: reverse protection puts its replica there.
    const disk = join(lab.dir, 'pool', 'web-01.img');
    await createGuestDisk(disk, { mode: 'records', records: RECORDS, rate: RATE }, 64 * MiB);
    guest = await startGuest(lab, `${lab.prefix}hq-web-01`, disk, { network: lan });
    await waitForConsole(guest.console, (c) => c.writerResumes.length > 0, BOOT_MS, 'the writer');
  });

  after(async () => {
    await cleanupAgents();
    await lab?.close();
  });

  /** Fails with the console's I/O error lines, if any. */
  async function noIoErrors(): Promise<void> {
    const seen = parseGuestConsole(await readConsole(guest.console));
    assert.deepEqual(seen.ioErrors, [], 'the guest saw no I/O error');
    assert.equal(seen.panicked, false);
  }

  /** How many records the guest reports durable now. */
  async function durable(): Promise<number> {
    return parseGuestConsole(await readConsole(guest.console)).lastRecord ?? 0;
  }

  /** Waits until the guest reports more durable records than `before` (every 100 records). */
  async function writesOn(before: number, what: string): Promise<void> {
    await waitForConsole(guest.console, (c) => (c.lastRecord ?? 0) > before, 20_000, what);
  }

  /** Block copies the protected agent has started (a new one means the tap was re-attached). */
  function copies(): number {
    return hq.agent.logLines().filter((l) => l.msg === 'block copy into the tap started').length;
  }

  async function protecting(timeoutMs = 120_000): Promise<void> {
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting', timeoutMs);
  }

  /**
   * A domain DR defined boots from the recovered disk and reads every record back (its
   * serial console, where DR's libvirt keeps it, says so).
   */
  async function readsEveryRecord(vmId: string, what: string): Promise<void> {
    const file = consoleLogPath(await loadLibvirtSettings(dataDirLayout(dr.creds.dataDir)), vmId);
    const seen = await waitForConsole(
      file,
      (c) => c.verify !== undefined,
      BOOT_MS,
      `TL-VERIFY in ${what}`,
    );
    assert.deepEqual(seen.verify, { records: RECORDS, gapFree: true, owner: guest.uuid });
  }

  /** Exports the disk at `seq` at the recovery site and reads its records. */
  async function exportedRecords(seq: number) {
    const path = join(lab.dir, `export-${seq}.raw`);
    const diskId = `${guest.uuid}-vda`;
    const taskId = await startTask(dr, 'checkpoint.exportDisk', {
      vpgId,
      diskId,
      checkpointSeq: seq,
      path,
    });
    await taskSucceeds(dr, taskId, 120_000);
    const records = await readGuestRecords(path);
    const sha256 = await sha256File(path);
    await rm(path, { force: true });
    return { ...records, sha256 };
  }

  /** The oracle at a new checkpoint: a gap-free prefix holding at least what was durable. */
  async function oracleHolds(label: string): Promise<number> {
    const before = await durable();
    const checkpoint = await insertCheckpoint(hq, vpgId, label);
    await waitForCheckpoint(hq, checkpoint);
    const image = await exportedRecords(checkpoint.seq);
    assert.ok(image.gapFree, `${label}: gap-free (first invalid ${image.firstInvalid})`);
    assert.equal(image.owner, guest.uuid);
    assert.ok(image.records >= before, `${label}: ${image.records} ≥ ${before} durable`);
    assert.ok(image.records >= floor, `${label}: never fewer than before (${floor})`);
    floor = image.records;
    return image.records;
  }

  it('protects the running guest while it writes, without a reboot', async () => {
    const vm = await untilVm(hq, guest.uuid);
    assert.equal(vm.powerState, 'running');
    assert.equal(vm.cannotProtect, undefined);
    const vpg = await createVpg(hq, dr, {
      name: 'web (libvirt)',
      vmIds: [vm.vmId],
      checkpointIntervalMs: 2000,
      rpoTargetSeconds: 30,
      recoveryDatastore: lab.pool,
    });
    vpgId = vpg.vpgId;
    await protecting();
    const xml = parseDomainXml(await virsh(['dumpxml', guest.name]));
    assert.equal(xml.disks[0]?.mirror?.ready, 'yes', 'the disk is mirrored into the agent');
    assert.equal(xml.disks[0]?.path, guest.disk, 'the guest keeps its own file');
    const tasks = await call<{ type: string; steps?: { name: string }[] }[]>(hq, 'task.list', {
      vpgId,
    });
    const sync = tasks.find((t) => t.type === 'InitialSync');
    assert.equal(sync?.steps?.[0]?.name, "Attach to the VMs' disks", 'the attach step is shown');
    assert.equal(parseGuestConsole(await readConsole(guest.console)).boots.length, 1, 'no reboot');
    await noIoErrors();
    // QEMU (group libvirt-qemu) reaches the agent's NBD socket; other local users do not.
    const socket = await stat(join(hq.creds.dataDir, 'nbd.sock'));
    assert.equal(socket.mode & 0o777, 0o660);
    assert.equal(socket.gid, await groupId('libvirt-qemu'));
    assert.equal((await stat(hq.creds.dataDir)).mode & 0o007, 0, 'the data dir is not open to all');
  });

  it('holds a gap-free prefix of the records at every checkpoint over 60 s of writes', async () => {
    const started = Date.now();
    const first = await durable();
    await new Promise((r) => setTimeout(r, 62_000));
    const checkpoints = CheckpointInfoSchema.array()
      .parse(await call(dr, 'checkpoint.list', { vpgId }))
      .filter((c) => c.inconsistent !== true && c.sourceTime >= started);
    assert.ok(checkpoints.length >= 10, `${checkpoints.length} checkpoints in 60 s`);
    let previous = 0;
    for (const checkpoint of spread(checkpoints, 10)) {
      const image = await exportedRecords(checkpoint.seq);
      assert.ok(image.gapFree, `checkpoint ${checkpoint.seq}: gap-free`);
      assert.ok(image.records >= previous, 'later checkpoints hold more');
      previous = image.records;
    }
    assert.ok(previous > first, `the guest wrote on (${first} → ${previous})`);
    floor = previous;
    await noIoErrors();
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`gives the guest no I/O error when the protected agent stops (${signal}) and resyncs after`, async () => {
      const before = await durable();
      await stopSite(hq, signal);
      await writesOn(before, 'the guest writing on without the agent');
      await startSite(hq);
      await protecting();
      // What was written while no agent watched is found by comparing the whole disk.
      const resync = await hq.agent.waitForLog((l) => l.msg === 'resync done');
      assert.equal(resync['scannedBytes'], 64 * MiB);
      await noIoErrors();
      await oracleHolds(`after ${signal}`);
    });
  }

  it('survives a guest reboot', async () => {
    const boots = parseGuestConsole(await readConsole(guest.console)).boots.length;
    const attached = copies();
    await virsh(['reboot', guest.name]);
    const seen = await waitForConsole(
      guest.console,
      (c) => c.boots.length > boots && c.writerResumes.length > boots,
      BOOT_MS,
      'the guest writing again after its reboot',
    );
    assert.ok((seen.writerResumes.at(-1) ?? 0) > 0, 'the writer resumed where it was');
    assert.equal(copies(), attached, 'the mirror lives on in QEMU across a guest reboot');
    await protecting();
    await noIoErrors();
    await oracleHolds('after a guest reboot');
  });

  it('compares the disk again when the guest was shut down and started', async () => {
    const boots = parseGuestConsole(await readConsole(guest.console)).boots.length;
    const attached = copies();
    const resyncs = () => hq.agent.logLines().filter((l) => l.msg === 'resync done').length;
    const compared = resyncs();
    await virsh(['shutdown', guest.name]);
    await waitFor(async () => (await virsh(['domstate', guest.name])).trim() === 'shut off');
    // Off, its disk is in sync: a checkpoint now is consistent and holds every record written.
    await oracleHolds('while the guest is off');
    assert.equal(copies(), attached, 'nothing to attach to while it is off');
    await virsh(['start', guest.name]);
    await waitForConsole(
      guest.console,
      (c) => c.writerResumes.length > boots,
      BOOT_MS,
      'the guest writing again after its start',
    );
    await protecting();
    await waitFor(async () => copies() > attached && resyncs() > compared);
    await noIoErrors();
    await oracleHolds('after a shutdown and start');
  });

  it('survives a libvirtd restart', async () => {
    const attached = copies();
    await restartLibvirtd();
    await writesOn(await durable(), 'the guest writing on');
    await protecting();
    await new Promise((r) => setTimeout(r, 6000)); // past the agent's next look at the mirror
    assert.equal(copies(), attached, 'the mirror lives on in QEMU across a libvirtd restart');
    await noIoErrors();
    await oracleHolds('after a libvirtd restart');
  });

  let all: CheckpointInfo;
  it('holds every record at the checkpoint taken after the writer stopped', async () => {
    const done = await waitForConsole(
      guest.console,
      (c) => c.done !== undefined,
      400_000,
      'TL-DONE',
    );
    assert.equal(done.done, RECORDS);
    all = await insertCheckpoint(hq, vpgId, 'writer done');
    await waitForCheckpoint(hq, all);
    const image = await exportedRecords(all.seq);
    assert.equal(image.records, RECORDS);
    assert.ok(image.gapFree);
    await noIoErrors();
  });

  it('boots a test failover from the recovered disk, which reads every record; stopTest leaves nothing', async () => {
    const taskId = await startTask(dr, 'failover.test', {
      vpgId,
      checkpoint: { kind: 'seq', seq: all.seq },
    });
    await taskSucceeds(dr, taskId, 180_000);
    const [status] = await failovers(dr, { vpgId });
    assert.ok(status);
    const recovered = (await vms(dr)).find(
      (v) => v.recoveredFrom?.failoverId === status.failoverId,
    );
    assert.ok(recovered, 'the test VM is registered');
    assert.equal(recovered.name, `${lab.prefix}dr-${lab.prefix}hq-web-01 (test)`);
    assert.equal(recovered.powerState, 'running');
    assert.equal(recovered.nics[0]?.network, `${lan}-test`, 'on an isolated test network');
    const testNet = parseNetworkXml(await virsh(['net-dumpxml', `${lan}-test`]), true);
    assert.equal(testNet.isolated, true, 'the test network has no route out');
    await readsEveryRecord(recovered.vmId, 'the test VM');

    await taskSucceeds(dr, await startTask(dr, 'failover.stopTest', { vpgId }), 120_000);
    const names = (await virsh(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
    assert.ok(!names.includes(recovered.name), 'no test domain is left');
    const nets = (await virsh(['net-list', '--all', '--name'])).split('\n').map((l) => l.trim());
    assert.ok(!nets.includes(`${lan}-test`), 'no test network is left');
    assert.deepEqual(await scratchFiles(dr), [], 'no scratch file is left');
  });

  it('brings the VPG up live on the live network with the protected agent killed', async () => {
    await stopSite(hq, 'SIGKILL');
    const taskId = await startTask(dr, 'failover.live', {
      vpgId,
      checkpoint: { kind: 'latest' },
    });
    await taskSucceeds(dr, taskId, 180_000);
    const [status] = await failovers(dr, { vpgId });
    assert.ok(status);
    assert.ok(status.checkpoint.seq >= all.seq);
    const recovered = (await vms(dr)).find(
      (v) => v.recoveredFrom?.failoverId === status.failoverId,
    );
    assert.ok(recovered);
    assert.equal(recovered.name, `${lab.prefix}dr-${lab.prefix}hq-web-01`);
    assert.equal(recovered.nics[0]?.network, lan, 'on the live network');
    await readsEveryRecord(recovered.vmId, 'the recovered VM');
    await taskSucceeds(dr, await startTask(dr, 'failover.rollback', { vpgId }), 120_000);
    assert.equal(
      (await vms(dr)).find((v) => v.vmId === recovered.vmId),
      undefined,
    );
    await startSite(hq);
    await protecting();
  });

  it('moves the VPG to the recovery site with no write lost, and back by a rollback', async () => {
    const taskId = await startTask(dr, 'failover.move', { vpgId });
    await taskSucceeds(dr, taskId, 300_000);
    assert.equal(
      (await virsh(['domstate', guest.name])).trim(),
      'shut off',
      'the protected site shut the guest down before the last checkpoint',
    );
    const [status] = await failovers(dr, { vpgId });
    assert.ok(status);
    const recovered = (await vms(dr)).find(
      (v) => v.recoveredFrom?.failoverId === status.failoverId,
    );
    assert.ok(recovered);
    await readsEveryRecord(recovered.vmId, 'the moved VM');
    const boots = parseGuestConsole(await readConsole(guest.console)).boots.length;
    await taskSucceeds(dr, await startTask(dr, 'failover.rollback', { vpgId }), 180_000);
    // The protected site powers the guest on again: it boots and finds its records complete.
    await waitForConsole(
      guest.console,
      (c) => c.boots.length > boots && c.writerResumes.length > boots,
      BOOT_MS,
      'the guest up again after the rollback',
    );
    await protecting();
    await noIoErrors();
  });

  it('removing the VPG leaves the guest running on its own file, equal to the disk', async () => {
    const last = await insertCheckpoint(hq, vpgId, 'before removal');
    await waitForCheckpoint(hq, last);
    const image = await exportedRecords(last.seq);
    await call(hq, 'vpg.remove', { vpgId });
    const xml = parseDomainXml(await virsh(['dumpxml', guest.name]));
    assert.equal(xml.active, true, 'the guest runs');
    assert.equal(xml.disks[0]?.mirror, undefined, 'no mirror is left');
    assert.equal(xml.disks[0]?.path, guest.disk);
    assert.equal(await sha256File(guest.disk), image.sha256, 'its file equals the last checkpoint');
    await noIoErrors();
  });

  it('commits a move: the recovered VM runs on its promoted file, protected back', async () => {
    const vpg = await createVpg(hq, dr, {
      name: 'web (again)',
      vmIds: [guest.uuid],
      checkpointIntervalMs: 2000,
      rpoTargetSeconds: 30,
      recoveryDatastore: lab.pool,
    });
    vpgId = vpg.vpgId;
    await protecting();
    await untilMetadata(dr, vpgId, vpg.version);
    await taskSucceeds(dr, await startTask(dr, 'failover.move', { vpgId }), 300_000);
    // The admin looks at the moved VM before committing: up, every record there.
    const [moved] = (await vms(dr)).filter((v) => v.recoveredFrom?.vpgId === vpgId);
    assert.ok(moved);
    await readsEveryRecord(moved.vmId, 'the moved VM');
    const commit = await taskSucceeds(
      dr,
      await startTask(dr, 'failover.commit', { vpgId, reverseProtection: true }),
      180_000,
    );
    const promote = await taskSucceeds(dr, String(commit.result?.['promoteTaskId']), 180_000);
    const reverseVpgId = String(promote.result?.['reverseVpgId']);
    await untilVpg(dr, reverseVpgId, (s) => s.status === 'Protecting', 'Protecting', 180_000);
    const [recovered] = (await vms(dr)).filter((v) => v.recoveredFrom?.vpgId === vpgId);
    assert.ok(recovered);
    assert.equal(recovered.powerState, 'running');
    const file = recovered.disks[0]?.location ?? '';
    assert.ok(file.startsWith(join(lab.dir, 'pool', 'tideline-replicas')), file);
    const xml = parseDomainXml(await virsh(['dumpxml', recovered.vmId]));
    assert.equal(xml.disks[0]?.path, file, 'a plain file disk, not the agent’s export');
    assert.equal(xml.disks[0]?.mirror?.ready, 'yes', 'mirrored back toward the original site');
    await readsEveryRecord(recovered.vmId, 'the committed VM');
  });
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${String(check)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function untilVm(site: Site, vmId: string): Promise<Vm> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const vm = (await vms(site)).find((v) => v.vmId === vmId);
    if (vm !== undefined) return vm;
    if (Date.now() > deadline) throw new Error(`${site.name} does not list VM ${vmId}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `n` checkpoints spread evenly over the list (first and last included). */
function spread<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from(
    { length: n },
    (_, i) => list[Math.round((i * (list.length - 1)) / (n - 1))] as T,
  );
}

async function scratchFiles(site: Site): Promise<string[]> {
  try {
    return await readdir(join(site.creds.dataDir, 'recovery'), { recursive: true });
  } catch {
    return [];
  }
}
