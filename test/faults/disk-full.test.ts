/**
 * The recovery agent's data directory (journal, replicas, logs) on a small file system that
 * fills up while two VMs write: replication pauses with a 'disk-full' alert, the records wait
 * in the source's outbox, nothing is corrupted, and once space is freed it resumes by itself,
 * the alert clears, and the oracle finds every checkpoint intact. (A tmpfs with a size: needs
 * root to mount it; without root the test says so and is skipped.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AlertSchema, type Vm } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import { Oracle } from '../helpers/replication-oracle';
import {
  MiB,
  call,
  createVpg,
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

describe('a full disk under the recovery site journal', { timeout: 300_000 }, () => {
  let mount: string;
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let oracle: Oracle;

  before(async () => {
    if (!root) return;
    // Not a makeTempDir: cleanupAgents would remove it before it is unmounted.
    mount = await mkdtemp(join(tmpdir(), 'tideline-full-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=192m,mode=0700', 'tmpfs', mount]);
    [hq, dr] = await Promise.all([
      launchSite('Headquarters', { diskMiB: 16 }),
      launchSite('Recovery DC', { dataDir: join(mount, 'data') }),
    ]);
    await pairSites(hq, dr);
    const chosen: Vm[] = pickVms(await vms(hq), 2, 2);
    vpgId = (await createVpg(hq, dr, { vmIds: chosen.map((v) => v.vmId), rpoTargetSeconds: 30 }))
      .vpgId;
    oracle = new Oracle(hq, dr, vpgId, chosen);
    await oracle.setWorkloads(false, MiB);
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting', 60_000);
    await oracle.checkpoint('before');
  });

  after(async () => {
    await cleanupAgents();
    // TIDELINE_TEST_KEEP=1 keeps the file system (and the recovery agent's logs in it).
    if (mount !== undefined && process.env['TIDELINE_TEST_KEEP'] !== '1') {
      await run('umount', ['-l', mount]).catch(() => undefined);
      await rm(mount, { recursive: true, force: true });
    }
  });

  it(
    'pauses with an alert, loses nothing, and resumes once space is freed',
    { skip: !root && 'needs root to mount a tmpfs' },
    async () => {
      // Fill the file system but for 8 MiB: the journal meets the full disk within seconds.
      const fs = await statfs(mount);
      const ballast = join(mount, 'ballast');
      const handle = await open(ballast, 'w');
      const chunk = Buffer.alloc(MiB, 0xee);
      const fill = fs.bavail * fs.bsize - 8 * MiB;
      for (let at = 0; at + MiB <= fill; at += MiB) await handle.write(chunk, 0, MiB, at);
      await handle.close();
      const filled = Date.now();
      const raised = await until(
        'a disk-full alert at the recovery site',
        async () => (await alerts(dr, vpgId, 'raised'))[0],
      );
      say(
        `alert raised ${((raised.raisedAt - filled) / 1000).toFixed(1)} s after the disk filled: ${raised.message}`,
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
        `replication resumed and Protecting ${((Date.now() - freed) / 1000).toFixed(1)} s after space was freed (backlog ${(grown / MiB).toFixed(1)} MiB)`,
      );
      await oracle.checkpoint('after', { resume: false });
      await oracle.verify();
      say(`oracle: ${oracle.checkpoints.length} checkpoints verified, 0 bytes lost`);
    },
  );
});
