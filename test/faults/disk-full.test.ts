/**
 * Each site's data directory in turn on a small file system that fills up while two VMs write.
 *
 * - Recovery site (journal, replicas, logs): replication pauses with a 'disk-full' alert, the
 *   records wait in the source's outbox, and once space is freed it resumes by itself.
 * - Protected site (outbox, bitmaps, logs): the VMs keep writing (their regions are tracked
 *   in the dirty bitmaps), a 'disk-full' alert is raised, and once space is freed the outbox
 *   takes records again and the tracked regions are resynced.
 *
 * Either way nothing is corrupted, the alert clears, and the oracle finds every checkpoint
 * intact. (A tmpfs with a size: needs root to mount it; without root the test says so and is
 * skipped.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  AlertSchema,
  WorkloadStatusSchema,
  type Vm,
  type WorkloadStatus,
} from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import { Oracle } from '../helpers/replication-oracle';
import {
  MiB,
  call,
  createVpg,
  fillDisk,
  launchSite,
  pairSites,
  pickVms,
  sleep,
  untilVpg,
  vms,
  vpgState,
  type Site,
} from '../helpers/replication-sites';

const run = promisify(execFile);
const say = (line: string): void => void process.stdout.write(`# disk full: ${line}\n`);
const root = process.getuid?.() === 0;

async function alerts(site: Site, vpgId: string, state: 'raised' | 'cleared') {
  return AlertSchema.array().parse(
    await call(site, 'alert.list', { vpgId, kind: 'disk-full', state }),
  );
}

/** A tmpfs of `size`, unmounted (and removed) by the returned function. */
async function mountTmpfs(size: string): Promise<{ path: string; unmount: () => Promise<void> }> {
  // Not a makeTempDir: cleanupAgents would remove it before it is unmounted.
  const path = await mkdtemp(join(tmpdir(), 'tideline-full-'));
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', path]);
  return {
    path,
    unmount: async () => {
      // TIDELINE_TEST_KEEP=1 keeps the file system (and the agent's logs in it).
      if (process.env['TIDELINE_TEST_KEEP'] === '1') return;
      await run('umount', ['-l', path]).catch(() => undefined);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Fills the file system but for `leave` bytes with a ballast file; returns its path. */
async function fillBut(mount: string, leave: number): Promise<string> {
  const fs = await statfs(mount);
  const ballast = join(mount, 'ballast');
  const handle = await open(ballast, 'w');
  const chunk = Buffer.alloc(MiB, 0xee);
  const fill = fs.bavail * fs.bsize - leave;
  for (let at = 0; at + MiB <= fill; at += MiB) await handle.write(chunk, 0, MiB, at);
  await handle.close();
  return ballast;
}

async function workloads(site: Site, chosen: readonly Vm[]): Promise<WorkloadStatus[]> {
  const out: WorkloadStatus[] = [];
  for (const vm of chosen) {
    const {
      workloads: [status],
    } = z
      .object({ workloads: z.array(WorkloadStatusSchema).length(1) })
      .parse(await call(site, 'vm.workload', { vmId: vm.vmId }));
    out.push(status as WorkloadStatus);
  }
  return out;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `${what} within ${ms / 1000} s`);
    await sleep(250);
  }
}

interface Rig {
  readonly mount: { path: string; unmount: () => Promise<void> };
  readonly hq: Site;
  readonly dr: Site;
  readonly chosen: Vm[];
  readonly vpgId: string;
  readonly oracle: Oracle;
}

/**
 * Two sites, one of them with its data directory on a tmpfs, and a VPG of two VMs writing
 * 1 MiB/s each, Protecting, with a first oracle checkpoint.
 */
async function rig(full: 'protected' | 'recovery', size: string): Promise<Rig> {
  const mount = await mountTmpfs(size);
  try {
    const on = (site: typeof full) =>
      site === full ? { dataDir: join(mount.path, 'data') } : undefined;
    const [hq, dr] = await Promise.all([
      launchSite('Headquarters', { diskMiB: 16, ...on('protected') }),
      launchSite('Recovery DC', { ...on('recovery') }),
    ]);
    await pairSites(hq, dr);
    const chosen = pickVms(await vms(hq), 2, 2);
    if (full === 'protected') {
      // The VM disks share the file system with the outbox: allocated in full (fallocate keeps
      // the data fillDisk wrote), as a VM's writes into holes would fail on a full disk anyway.
      for (const vm of chosen) {
        for (const disk of vm.disks) {
          await fillDisk(disk.location);
          await run('fallocate', ['-l', String(disk.sizeBytes), disk.location]);
        }
      }
    }
    const { vpgId } = await createVpg(hq, dr, {
      vmIds: chosen.map((v) => v.vmId),
      rpoTargetSeconds: 30,
    });
    const oracle = new Oracle(hq, dr, vpgId, chosen);
    await oracle.setWorkloads(false, MiB);
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting', 60_000);
    await oracle.checkpoint('before');
    return { mount, hq, dr, chosen, vpgId, oracle };
  } catch (err) {
    await cleanupAgents();
    await mount.unmount();
    throw err;
  }
}

describe('a full disk under the recovery site journal', { timeout: 300_000 }, () => {
  let r: Rig | undefined;
  before(async () => {
    if (root) r = await rig('recovery', '192m');
  });
  after(async () => {
    await cleanupAgents();
    await r?.mount.unmount();
  });

  it(
    'pauses with an alert, loses nothing, and resumes once space is freed',
    { skip: !root && 'needs root to mount a tmpfs' },
    async () => {
      const { mount, hq, dr, vpgId, oracle } = r as Rig;
      // Fill the file system but for 8 MiB: the journal meets the full disk within seconds.
      const ballast = await fillBut(mount.path, 8 * MiB);
      const filled = Date.now();
      const raised = await until(
        'a disk-full alert at the recovery site',
        async () => (await alerts(dr, vpgId, 'raised'))[0],
      );
      say(
        `recovery site: alert raised ${((raised.raisedAt - filled) / 1000).toFixed(1)} s after the disk filled: ${raised.message}`,
      );
      assert.match(raised.message, /is full .*paused until space is freed/);
      const state = await vpgState(dr, vpgId);
      assert.match(state.statusMessage ?? '', /is full/);
      // The records wait at the source meanwhile; the agents stay up.
      const backlog = (await vpgState(hq, vpgId)).backlogBytes;
      await sleep(5_000);
      const grown = (await vpgState(hq, vpgId)).backlogBytes;
      assert.ok(grown > backlog, `the outbox holds the waiting records (${backlog} → ${grown} B)`);
      assert.equal(dr.agent.process.exitCode, null, 'the recovery agent is still running');

      await rm(ballast);
      const freed = Date.now();
      await until('the alert cleared', async () => (await alerts(dr, vpgId, 'cleared'))[0]);
      await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting again', 60_000);
      say(
        `recovery site: replication resumed and Protecting ${((Date.now() - freed) / 1000).toFixed(1)} s after space was freed (backlog ${(grown / MiB).toFixed(1)} MiB)`,
      );
      await oracle.checkpoint('after', { resume: false });
      await oracle.verify();
      say(`recovery site: oracle: ${oracle.checkpoints.length} checkpoints verified, 0 bytes lost`);
    },
  );
});

describe('a full disk under the protected site outbox', { timeout: 300_000 }, () => {
  let r: Rig | undefined;
  before(async () => {
    if (root) r = await rig('protected', '256m');
  });
  after(async () => {
    await cleanupAgents();
    await r?.mount.unmount();
  });

  it(
    'keeps the VMs writing, alerts, and resyncs once space is freed',
    { skip: !root && 'needs root to mount a tmpfs' },
    async () => {
      const { mount, hq, chosen, vpgId, oracle } = r as Rig;
      // The outbox's current segment grows until it is released: 8 MiB is gone in seconds.
      const ballast = await fillBut(mount.path, 8 * MiB);
      const filled = Date.now();
      const raised = await until(
        'a disk-full alert at the protected site',
        async () => (await alerts(hq, vpgId, 'raised'))[0],
      );
      say(
        `protected site: alert raised ${((raised.raisedAt - filled) / 1000).toFixed(1)} s after the disk filled: ${raised.message}`,
      );
      assert.match(raised.message, /is full/);
      const state = await vpgState(hq, vpgId);
      assert.equal(state.status, 'Resyncing', 'the written regions are tracked');
      // The VMs' writes go on meanwhile (into their disks, tracked in the dirty bitmaps).
      const before = await workloads(hq, chosen);
      await sleep(5_000);
      const later = await workloads(hq, chosen);
      for (const [i, w] of later.entries()) {
        assert.ok(w.bytes > (before[i]?.bytes ?? 0), `${w.vmId} keeps writing`);
        assert.equal(w.errors, 0, `${w.vmId}: no write failed (${w.lastError ?? ''})`);
      }
      const paused = await vpgState(hq, vpgId);
      assert.notEqual(paused.status, 'Error', paused.statusMessage);
      assert.equal(hq.agent.process.exitCode, null, 'the protected agent is still running');

      await rm(ballast);
      const freed = Date.now();
      await until('the alert cleared', async () => (await alerts(hq, vpgId, 'cleared'))[0]);
      await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting again', 90_000);
      say(
        `protected site: Protecting ${((Date.now() - freed) / 1000).toFixed(1)} s after space was freed`,
      );
      await oracle.checkpoint('after', { resume: false });
      await oracle.verify();
      say(
        `protected site: oracle: ${oracle.checkpoints.length} checkpoints verified, 0 bytes lost`,
      );
    },
  );
});
