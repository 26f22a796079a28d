import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { VpgStateSchema, type VpgState } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  errorOf,
  isStatus,
  pairedSites,
  startSite,
  stopSite,
  untilLinked,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * vpg.forceUpdate (issue 15): with the recovery site's agent down, vpg.update is refused but
 * vpg.forceUpdate changes the VPG at the protected site, which says the recovery site has yet
 * to take it; when that agent is back, it takes the change (vpg.prepare) and the mark clears.
 */

let hq: Site;
let dr: Site;
let vpg: VpgState;

before(async () => {
  [hq, dr] = await pairedSites();
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vpg = await createVpg(hq, dr, { name: 'Web tier', vmIds: [vm.vmId], rpoTargetSeconds: 10 });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
});

after(async () => {
  await cleanupAgents();
});

test('a forced change with the recovery site down, taken by it when it is back', async () => {
  await stopSite(dr);
  await untilLinked(hq, false);
  const settings = { name: 'Web tier (renamed)', rpoTargetSeconds: 20 };
  const refused = await errorOf(hq, 'vpg.update', {
    vpgId: vpg.vpgId,
    version: vpg.version,
    settings,
  });
  assert.match(refused.message, /cannot be reached/);

  const forced = VpgStateSchema.parse(
    await call(hq, 'vpg.forceUpdate', { vpgId: vpg.vpgId, version: vpg.version, settings }),
  );
  assert.equal(forced.version, vpg.version + 1);
  assert.equal(forced.name, 'Web tier (renamed)');
  assert.equal(forced.rpoTargetSeconds, 20);
  assert.equal(forced.recoverySitePending, true);

  // An outdated version is still refused, forced or not.
  const outdated = await errorOf(hq, 'vpg.forceUpdate', {
    vpgId: vpg.vpgId,
    version: vpg.version,
    settings: { rpoTargetSeconds: 30 },
  });
  assert.match(outdated.message, /changed since it was read/);

  await startSite(dr);
  const landed = await untilVpg(
    hq,
    vpg.vpgId,
    (s) => s.recoverySitePending !== true,
    'the recovery site took the change',
    60_000,
  );
  assert.equal(landed.version, forced.version);
  const there = await untilVpg(
    dr,
    vpg.vpgId,
    (s) => s.version === forced.version,
    'the recovery site at the new version',
  );
  assert.equal(there.name, 'Web tier (renamed)');
  assert.equal(there.rpoTargetSeconds, 20);
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'protecting again', 60_000);

  // With the link up, a forced change is an ordinary one: both sites at once, nothing pending.
  const both = VpgStateSchema.parse(
    await call(hq, 'vpg.forceUpdate', {
      vpgId: vpg.vpgId,
      version: landed.version,
      settings: { rpoTargetSeconds: 25 },
    }),
  );
  assert.equal(both.recoverySitePending, undefined);
  assert.equal(
    VpgStateSchema.parse(await call(dr, 'vpg.state', { vpgId: vpg.vpgId })).rpoTargetSeconds,
    25,
  );
});
