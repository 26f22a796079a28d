/**
 * The journal's hard limit under sustained writes, between two real agents: retention starts
 * as an append takes the journal past the limit, not only at its 10 s tick, between which the
 * journal grew by the tick's period times the write rate (bench/README.md § 15).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupAgents } from '../helpers/agents';
import {
  createVpg,
  isStatus,
  pairedSites,
  setWorkload,
  untilVpg,
  vms,
  vpgState,
  type Site,
} from '../helpers/replication-sites';

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
/** What the workload writes: 10 s of it is 320 MiB, more than the slack allowed below. */
const RATE = 32 * MiB;
/** A 64 MiB segment being appended to, and a quarter second of writes before a look. */
const SLACK = 128 * MiB;

let hq: Site;
let dr: Site;

before(async () => {
  [hq, dr] = await pairedSites();
});
after(cleanupAgents);

describe('journal hard limit', { timeout: 180_000 }, () => {
  it('holds under a sustained write rate: retention starts at the limit, not at the next tick', async () => {
    const vm = (await vms(hq))[0] ?? assert.fail('no VM');
    const vpg = await createVpg(hq, dr, {
      vmIds: [vm.vmId],
      journal: { historySeconds: 3600, hardLimitBytes: LIMIT, warningBytes: LIMIT / 2 },
    });
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
    await setWorkload(hq, vm.vmId, RATE);
    const sizes: number[] = [];
    let over: number | undefined;
    const deadline = Date.now() + 90_000;
    // From the first look past the limit, 12 s: more than one retention tick.
    while (over === undefined || Date.now() - over < 12_000) {
      assert.ok(Date.now() < deadline, `the journal reached its limit (sizes ${sizes.join(' ')})`);
      const { journalBytes } = await vpgState(dr, vpg.vpgId);
      sizes.push(Math.round(journalBytes / MiB));
      if (over === undefined && journalBytes > LIMIT) over = Date.now();
      await new Promise((r) => setTimeout(r, 200));
    }
    await setWorkload(hq, vm.vmId, 0);
    const worst = Math.max(...sizes);
    console.log(`# journal limit: ${LIMIT / MiB} MiB, sizes (MiB) ${sizes.join(' ')}`);
    assert.ok(
      worst * MiB <= LIMIT + SLACK,
      `the journal stayed within ${(LIMIT + SLACK) / MiB} MiB: worst ${worst} MiB`,
    );
  });
});
