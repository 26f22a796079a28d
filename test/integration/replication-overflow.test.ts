import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VpgState, VpgStatus } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import { Oracle } from '../helpers/replication-oracle';
import {
  MiB,
  createVpg,
  isStatus,
  launchSite,
  pairSites,
  pickVms,
  sleep,
  startSite,
  stopSite,
  untilLinked,
  untilVpg,
  vms,
  vpgState,
  waitForLogSince,
  type Site,
} from '../helpers/replication-sites';

/**
 * Outbox limit exceeded: the protected site's agent runs with a small outbox
 * (`--outbox-limit-mib`), the recovery agent is stopped under load until the VPG gives up its
 * outbox for dirty-region bitmaps, then started again: the VPG resyncs the dirty regions
 * (Resyncing), goes back to Protecting, and the oracle holds for checkpoints before the
 * overflow and after the resync.
 */

const OUTBOX_LIMIT_MIB = 8;
const RATE = 1 * MiB; // per VM
const RPO_TARGET_SECONDS = 6;

let hq: Site;
let dr: Site;
let vpg: VpgState;
let oracle: Oracle;

const say = (line: string): void => void process.stdout.write(`# ${line}\n`);

before(async () => {
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', {
      diskMiB: 16,
      runArgs: ['--outbox-limit-mib', String(OUTBOX_LIMIT_MIB)],
    }),
    launchSite('Recovery DC'),
  ]);
  await pairSites(hq, dr);
});
after(cleanupAgents);

describe('outbox limit exceeded: bitmap, resync, oracle', { timeout: 240_000 }, () => {
  it('streams a VPG of two VMs through a small outbox', async () => {
    const chosen = pickVms(await vms(hq), 2, 3);
    vpg = await createVpg(hq, dr, {
      name: 'overflow',
      vmIds: chosen.map((v) => v.vmId),
      rpoTargetSeconds: RPO_TARGET_SECONDS,
    });
    oracle = new Oracle(hq, dr, vpg.vpgId, chosen);
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting');
    await oracle.setWorkloads(false, RATE);
    await sleep(3000);
    await oracle.checkpoint('before-outage');
  });

  it('switches to dirty-region bitmaps when the outbox fills while the recovery agent is down', async () => {
    const logsFrom = hq.agent.logLines().length;
    await stopSite(dr);
    await untilLinked(hq, false);
    const down = Date.now();
    const switched = await waitForLogSince(
      hq,
      logsFrom,
      (l) => l.msg === 'VPG source changed mode' && l['mode'] === 'bitmap',
      60_000,
    );
    const overflowed = Date.now();
    const state = await untilVpg(hq, vpg.vpgId, isStatus('Resyncing'), 'Resyncing (bitmap mode)');
    assert.ok(
      state.backlogBytes <= OUTBOX_LIMIT_MIB * MiB,
      `the outbox stays within its limit (${state.backlogBytes})`,
    );
    // Writes go on in bitmap mode: they are only marked dirty now.
    await sleep(4000);
    const later = await vpgState(hq, vpg.vpgId);
    assert.equal(later.status, 'Resyncing');
    assert.ok(later.backlogBytes <= OUTBOX_LIMIT_MIB * MiB);
    say(
      `outbox of ${OUTBOX_LIMIT_MIB} MiB full ${((overflowed - down) / 1000).toFixed(1)} s after the link went down (${String(switched['reason'] ?? '')}); backlog held at ${(later.backlogBytes / MiB).toFixed(1)} MiB`,
    );
  });

  it('resyncs once the recovery agent is back (Resyncing, then Protecting), and the oracle holds', async () => {
    const logsFrom = hq.agent.logLines().length;
    const restarted = Date.now();
    await startSite(dr);
    await untilLinked(hq, true, 40_000);
    const linked = Date.now();
    const seen: VpgStatus[] = [];
    const protecting = await untilVpg(
      hq,
      vpg.vpgId,
      (s) => {
        if (seen.at(-1) !== s.status) seen.push(s.status);
        return s.status === 'Protecting';
      },
      'Protecting after the resync',
      120_000,
    );
    assert.ok(seen.includes('Resyncing'), `Resyncing on the way back (${seen.join(' → ')})`);
    assert.ok((protecting.rpoSeconds ?? Infinity) <= RPO_TARGET_SECONDS);
    await waitForLogSince(hq, logsFrom, (l) => l.msg === 'resync started');
    const done = await waitForLogSince(hq, logsFrom, (l) => l.msg === 'resync done');
    say(
      `link up ${((linked - restarted) / 1000).toFixed(1)} s after restart; resync ${String(done['seconds'])} s (${String(done['records'])} records, ${(Number(done['dataBytes']) / MiB).toFixed(1)} MiB sent of ${(Number(done['scannedBytes'] ?? NaN) / MiB).toFixed(1)} MiB dirty); Protecting ${((Date.now() - linked) / 1000).toFixed(1)} s after link up (${seen.join(' → ')})`,
    );
    await oracle.checkpoint('after-resync');
    await sleep(3000);
    await oracle.checkpoint('streaming-again', { resume: false });
    await oracle.verify();
    say(`oracle: ${oracle.checkpoints.length} checkpoints × ${oracle.diskFiles.size} disks equal`);
  });
});
