import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  ConsoleMethods,
  ParamsIn,
  ResultOut,
  VpgState,
  VpgView,
  VmView,
} from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import { consoleCall, isError } from '../helpers/console-call';
import {
  isStatus,
  pairedSites,
  startSite,
  stopSite,
  untilVpg,
  vpgState,
  type Site,
} from '../helpers/replication-sites';
import { untilEstate } from '../unit/console-fake-agent';

/**
 * vpgs.edit (issue 15) through the console core against two real, paired agents: a VM joins
 * with its boot group and a test re-IP, the settings reach the recovery site; a stale version
 * or a mapping of a NIC the VM lacks changes nothing; a VM leaves with its recovery entry; and
 * with the recovery site down, settings saved with applyLater are pending until it is back.
 */

const GIB = 2 ** 30;
const TIMEOUT_MS = 120_000;

let core: ConsoleCore;
let hq: Site;
let dr: Site;
let vpg: VpgView;
let hqVms: VmView[];

function call<M extends keyof ConsoleMethods & string>(
  method: M,
  params: ParamsIn<ConsoleMethods, M>,
): Promise<ResultOut<ConsoleMethods, M>> {
  return consoleCall(core, method, params);
}

async function current(): Promise<VpgView> {
  const snap = await untilEstate(
    core,
    (s) => s.vpgs.some((v) => v.vpgId === vpg.vpgId && v.role === 'source'),
    'the VPG from its protected site',
  );
  return snap.vpgs.find((v) => v.vpgId === vpg.vpgId) ?? assert.fail('no VPG');
}

describe('console core: editing a VPG through real agents', () => {
  before(
    async () => {
      [hq, dr] = await pairedSites();
      core = new ConsoleCore({
        settings: openNodeSettings(await makeTempDir('tl-console-vpg-edit-')),
        mode: 'browser',
        backoff: { initialMs: 100, maxMs: 400 },
        coalesceMs: 10,
        callTimeoutMs: 60_000,
      });
      core.start();
      for (const site of [hq, dr]) {
        await core.addAgent({
          address: site.agent.address,
          token: site.creds.token,
          fingerprint: site.creds.fingerprint,
        });
      }
      const snap = await untilEstate(
        core,
        (s) => s.pairings[0]?.link === 'connected' && s.vms.some((v) => v.siteId === hq.siteId),
        'the paired sites and their VMs',
        30_000,
      );
      hqVms = snap.vms.filter((v) => v.siteId === hq.siteId && v.nics.length > 0);
      assert.ok(hqVms.length >= 2, 'Headquarters has two VMs with NICs');
      const host = snap.hosts.find((h) => h.siteId === dr.siteId) ?? assert.fail('no host');
      vpg = await call('vpgs.create', {
        siteId: hq.siteId,
        settings: {
          name: 'Web tier',
          vmIds: [hqVms[0]!.vmId],
          recoverySiteId: dr.siteId,
          recoveryHostId: host.hostId,
          recoveryDatastore: host.datastores[0]?.name ?? assert.fail('no datastore'),
          journal: { historySeconds: 3600, hardLimitBytes: 4 * GIB, warningBytes: 3 * GIB },
          checkpointIntervalMs: 2000,
          rpoTargetSeconds: 30,
        },
      });
      await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
    },
    { timeout: TIMEOUT_MS },
  );

  after(async () => {
    await core?.stop();
    await cleanupAgents();
  });

  it(
    'adds a VM with its boot group and a static test address: saved on both sites, in order',
    { timeout: TIMEOUT_MS },
    async () => {
      const before = await current();
      const joining = hqVms[1]!;
      const nic = joining.nics[0]!;
      const result = await call('vpgs.edit', {
        siteId: hq.siteId,
        vpgId: vpg.vpgId,
        version: before.version,
        edit: {
          vmIds: [...before.vmIds, joining.vmId],
          name: 'Web tier 2',
          rpoTargetSeconds: 45,
          recovery: {
            vms: [
              {
                vmId: joining.vmId,
                bootGroup: 1,
                bootDelaySeconds: 5,
                test: [
                  {
                    nicName: nic.name,
                    network: 'lab-test',
                    ip: { mode: 'static', address: '10.99.0.20', prefixLength: 24 },
                  },
                ],
              },
            ],
          },
        },
      });
      assert.deepEqual(result.applied, [
        `add VM ${joining.name}`,
        'change name, RPO target, boot order and networks',
      ]);
      assert.equal(result.vpg.version, before.version + 2);
      assert.deepEqual(result.vpg.vmIds, [...before.vmIds, joining.vmId]);
      assert.equal(result.vpg.name, 'Web tier 2');
      const there: VpgState = await untilVpg(
        dr,
        vpg.vpgId,
        (s) => s.version === result.vpg.version,
        'the recovery site at the new version',
      );
      assert.equal(there.rpoTargetSeconds, 45);
      const entry = there.recovery?.vms.find((v) => v.vmId === joining.vmId);
      assert.equal(entry?.bootGroup, 1);
      assert.equal(entry?.bootDelaySeconds, 5);
      assert.deepEqual(entry?.test[0]?.ip, {
        mode: 'static',
        address: '10.99.0.20',
        prefixLength: 24,
        dns: [],
      });
      await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'the new VM synced', 60_000);
    },
  );

  it('changes nothing for an edit that restates the settings', async () => {
    const now = await current();
    const result = await call('vpgs.edit', {
      siteId: hq.siteId,
      vpgId: vpg.vpgId,
      version: now.version,
      edit: { name: now.name, rpoTargetSeconds: now.rpoTargetSeconds, vmIds: now.vmIds },
    });
    assert.deepEqual(result.applied, []);
    assert.equal((await vpgState(hq, vpg.vpgId)).version, now.version);
  });

  it('refuses a stale version and a mapping of a NIC the VM lacks, changing nothing', async () => {
    const now = await current();
    await assert.rejects(
      call('vpgs.edit', {
        siteId: hq.siteId,
        vpgId: vpg.vpgId,
        version: now.version - 1,
        edit: { name: 'Late' },
      }),
      isError('CONFLICT', 'reopen it'),
    );
    const vm = hqVms[0]!;
    await assert.rejects(
      call('vpgs.edit', {
        siteId: hq.siteId,
        vpgId: vpg.vpgId,
        version: now.version,
        edit: {
          name: 'Half saved?',
          recovery: {
            vms: [{ vmId: vm.vmId, live: [{ nicName: 'nic-nope', network: 'prod' }] }],
          },
        },
      }),
      isError('INVALID_PARAMS', 'nic-nope', vm.name),
    );
    const after = await vpgState(hq, vpg.vpgId);
    assert.equal(after.version, now.version);
    assert.equal(after.name, now.name);
  });

  it('removes a VM: its recovery entry goes with it', { timeout: TIMEOUT_MS }, async () => {
    const now = await current();
    const leaving = hqVms[1]!;
    const result = await call('vpgs.edit', {
      siteId: hq.siteId,
      vpgId: vpg.vpgId,
      version: now.version,
      edit: { vmIds: now.vmIds.filter((id) => id !== leaving.vmId) },
    });
    assert.deepEqual(result.applied, [
      `remove VM ${leaving.name}`,
      'change boot order and networks',
    ]);
    const state = await vpgState(hq, vpg.vpgId);
    assert.deepEqual(state.vmIds, [hqVms[0]!.vmId]);
    assert.deepEqual(state.recovery?.vms ?? [], []);
  });

  it(
    'with the recovery site down: refused unless applied later, then pending until it is back',
    { timeout: TIMEOUT_MS },
    async () => {
      const now = await current();
      await stopSite(dr);
      await untilEstate(
        core,
        (s) => s.pairings[0]?.link !== 'connected',
        'the link to be down',
        30_000,
      );
      await assert.rejects(
        call('vpgs.edit', {
          siteId: hq.siteId,
          vpgId: vpg.vpgId,
          version: now.version,
          edit: { rpoTargetSeconds: 60 },
        }),
        isError('UNAVAILABLE', 'cannot be reached'),
      );
      await assert.rejects(
        call('vpgs.edit', {
          siteId: hq.siteId,
          vpgId: vpg.vpgId,
          version: now.version,
          edit: { vmIds: [...now.vmIds, hqVms[1]!.vmId] },
          applyLater: true,
        }),
        isError('INVALID_PARAMS', 'recovery site is reachable'),
      );
      const saved = await call('vpgs.edit', {
        siteId: hq.siteId,
        vpgId: vpg.vpgId,
        version: now.version,
        edit: { rpoTargetSeconds: 60 },
        applyLater: true,
      });
      assert.equal(saved.vpg.recoverySitePending, true);
      assert.equal(saved.vpg.rpoTargetSeconds, 60);

      await startSite(dr);
      const snap = await untilEstate(
        core,
        (s) => s.vpgs.some((v) => v.vpgId === vpg.vpgId && v.recoverySitePending !== true),
        'the recovery site to take the change',
        60_000,
      );
      assert.equal(snap.vpgs.find((v) => v.vpgId === vpg.vpgId)?.rpoTargetSeconds, 60);
      const there = await untilVpg(
        dr,
        vpg.vpgId,
        (s) => s.version === saved.vpg.version,
        'the recovery site at the new version',
      );
      assert.equal(there.rpoTargetSeconds, 60);
    },
  );
});
