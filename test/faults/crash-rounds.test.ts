/**
 * kill -9 of either agent at random moments, 20 rounds: during the initial sync, while
 * streaming, right after a checkpoint insert, during a resync (the outbox overflowed while the
 * recovery agent was away) and during a test failover. After every round both agents are
 * restarted, protection is back, no task is left Running, and an oracle checkpoint is taken;
 * at the end every checkpoint's image equals the source as it was (nothing acknowledged lost).
 * The moments come from a seeded generator (TIDELINE_CRASH_SEED), so a failure replays.
 */
import { after, before, describe, it } from 'node:test';
import type { Vm } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import { Oracle } from '../helpers/replication-oracle';
import { seededRandom } from '../helpers/seeded-random';
import {
  MiB,
  createVpg,
  fillDisk,
  insertCheckpoint,
  launchSite,
  pairSites,
  pickVms,
  sleep,
  startSite,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';
import {
  endedTask,
  failovers,
  startTask,
  untilMetadata,
  untilTasksSettled,
} from '../integration/failover-helpers';

const SEED = Number(process.env['TIDELINE_CRASH_SEED'] ?? 1205);
const ROUNDS = 20;
const say = (line: string): void => void process.stdout.write(`# crash: ${line}\n`);

type Phase = 'stream' | 'checkpoint' | 'resync' | 'test failover';
const PHASES: readonly Phase[] = ['stream', 'checkpoint', 'resync', 'test failover'];

describe('kill -9 at random moments, 20 rounds', { timeout: 900_000 }, () => {
  const random = seededRandom(SEED);
  let hq: Site;
  let dr: Site;
  let chosen: Vm[];
  let vpgId: string;
  let oracle: Oracle;
  const recoveries: number[] = [];

  before(async () => {
    const runArgs = ['--metadata-interval-seconds', '2'];
    [hq, dr] = await Promise.all([
      launchSite('Headquarters', {
        diskMiB: 16,
        // A small outbox: 3 s away at 2 MiB/s overflows it, and the return is a resync.
        runArgs: [...runArgs, '--outbox-limit-mib', '4'],
      }),
      launchSite('Recovery DC', { runArgs }),
    ]);
    await pairSites(hq, dr);
    chosen = pickVms(await vms(hq), 2, 2);
    for (const vm of chosen) for (const disk of vm.disks) await fillDisk(disk.location);
  });

  after(cleanupAgents);

  async function kill(site: Site): Promise<void> {
    await stopSite(site, 'SIGKILL');
  }

  /**
   * Both agents up, the VPG Protecting with the link up (a source that has just restarted
   * says Protecting, with "the link is down", from the checkpoints it knows) and the backlog
   * of the time away sent, no task left Running on either side. Protecting with the link just
   * up is not enough: the backlog may still stand near the 4 MiB limit, and the workloads'
   * 4 MiB/s can overflow it before the restarted recovery agent acknowledges (then the VPG
   * resyncs, rightly, and the oracle's checkpoint is inconsistent).
   */
  async function settled(round: number, started: number): Promise<void> {
    await untilVpg(
      hq,
      vpgId,
      (s) => s.status === 'Protecting' && s.statusMessage === undefined && s.backlogBytes <= MiB,
      `round ${round}: Protecting, link up, backlog sent`,
      120_000,
    );
    recoveries.push(Date.now() - started);
    for (const site of [hq, dr]) await untilTasksSettled(site, `round ${round}`);
  }

  async function restart(...sites: Site[]): Promise<void> {
    for (const site of sites) await startSite(site);
  }

  it('round 1: a kill during the initial sync', async () => {
    const victim = random() < 0.5 ? hq : dr;
    const vpg = await createVpg(hq, dr, { vmIds: chosen.map((v) => v.vmId), rpoTargetSeconds: 30 });
    vpgId = vpg.vpgId;
    oracle = new Oracle(hq, dr, vpgId, chosen);
    await oracle.setWorkloads(false, 2 * MiB);
    await sleep(Math.floor(random() * 800));
    const killed = Date.now();
    await kill(victim);
    await restart(victim);
    await settled(1, killed);
    await untilMetadata(dr, vpgId);
    await oracle.checkpoint('round 1');
    say(`round 1: initial sync, killed ${victim.name}`);
  });

  it('rounds 2–20: streaming, checkpoint insert, resync and test failover', async () => {
    for (let round = 2; round <= ROUNDS; round += 1) {
      const phase = PHASES[(round - 2) % PHASES.length] as Phase;
      const victim = phase === 'test failover' || random() < 0.5 ? dr : hq;
      const delay = Math.floor(random() * 1500);
      let killed = Date.now();
      switch (phase) {
        case 'stream':
          await sleep(delay);
          killed = Date.now();
          await kill(victim);
          await restart(victim);
          break;
        case 'checkpoint': {
          void insertCheckpoint(hq, vpgId, `crash ${round}`).catch(() => undefined);
          await sleep(delay / 10);
          killed = Date.now();
          await kill(victim);
          await restart(victim);
          break;
        }
        case 'resync': {
          await stopSite(dr); // away long enough for the 4 MiB outbox to overflow
          await sleep(3_000);
          await startSite(dr);
          await untilVpg(hq, vpgId, (s) => s.status === 'Resyncing', 'Resyncing', 30_000).catch(
            () => undefined, // a short resync may be over before it is seen: still a crash moment
          );
          await sleep(delay / 5);
          killed = Date.now();
          await kill(victim);
          await restart(victim);
          break;
        }
        case 'test failover': {
          const taskId = await startTask(dr, 'failover.test', { vpgId });
          await sleep(delay / 3);
          killed = Date.now();
          await kill(dr);
          await restart(dr);
          // Interrupted or done: whatever the restart left is ended by a stopTest.
          await endedTask(dr, taskId, 60_000).catch(() => undefined);
          const open = (await failovers(dr, { vpgId })).filter((f) => f.mode === 'test');
          for (const test of open) {
            if (test.phase === 'Testing') {
              await endedTask(dr, await startTask(dr, 'failover.stopTest', { vpgId }), 60_000);
            }
          }
          break;
        }
      }
      await settled(round, killed);
      // The last one with the workloads left paused: verify() compares the disks with it.
      await oracle.checkpoint(`round ${round}`, { resume: round < ROUNDS });
      say(
        `round ${round}: ${phase}, killed ${victim.name} ${delay} ms in, Protecting again after ${((recoveries.at(-1) ?? 0) / 1000).toFixed(2)} s`,
      );
    }
  });

  it('loses nothing acknowledged: every checkpoint exports as the source was', async () => {
    const sorted = [...recoveries].sort((a, b) => a - b);
    say(
      `${ROUNDS} rounds: Protecting again ${(sorted[Math.floor(sorted.length / 2)] ?? 0) / 1000} s after a kill (median), ${(sorted.at(-1) ?? 0) / 1000} s at worst`,
    );
    await oracle.verify();
    say(`oracle: ${oracle.checkpoints.length} checkpoints verified, 0 bytes lost`);
  });
});
