import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../app/errors';
import {
  MetadataPackageSchema,
  NetworkSchema,
  VpgStateSchema,
  type MetadataPackage,
  type Vm,
  type VpgState,
} from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  MiB,
  call,
  errorOf,
  isStatus,
  launchSite,
  pairSites,
  sleep,
  startSite,
  stopSite,
  tail,
  untilLinked,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

const { INVALID_PARAMS, NOT_FOUND, UNAVAILABLE } = ErrorCodes;

/**
 * Metadata packages between two real agents: the protected site captures its VMs at VPG
 * creation, on every settings change and on inventory changes, ships each new version to the
 * recovery site, which keeps it beside the journal (vpg.metadata at either site); a recovery
 * site that was down catches up; without a package the received VPG is MissingConfiguration.
 */

let hq: Site;
let dr: Site;
let chosen: Vm[] = [];
let vpg: VpgState;

const metadataOf = async (site: Site): Promise<MetadataPackage> =>
  MetadataPackageSchema.parse(await call(site, 'vpg.metadata', { vpgId: vpg.vpgId }));

/** vpg.metadata until it answers a package that satisfies `predicate`. */
async function untilMetadata(
  site: Site,
  predicate: (pkg: MetadataPackage) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<MetadataPackage> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const answer = await site.client.request('vpg.metadata', { vpgId: vpg.vpgId }, 10_000);
    last = answer.error ?? answer.result;
    if (answer.error === undefined) {
      const pkg = MetadataPackageSchema.parse(answer.result);
      if (predicate(pkg)) return pkg;
    }
    if (Date.now() > deadline) {
      throw new Error(`${site.name}: ${what} not reached: ${JSON.stringify(last)}\n${tail(site)}`);
    }
    await sleep(200);
  }
}

const metadataFile = (site: Site): string =>
  join(site.creds.dataDir, 'journal', vpg.vpgId, 'metadata.json');

function settings(recovery: unknown, name = 'metadata'): Record<string, unknown> {
  return {
    name,
    vmIds: chosen.map((v) => v.vmId),
    recoverySiteId: dr.siteId,
    recoveryHostId: drHost.hostId,
    recoveryDatastore: drHost.datastore,
    journal: { historySeconds: 3600, hardLimitBytes: 8 * 1024 * MiB, warningBytes: 6 * 1024 * MiB },
    checkpointIntervalMs: 2000,
    rpoTargetSeconds: 30,
    recovery,
  };
}
let drHost: { hostId: string; datastore: string };

describe('metadata packages between two agents', { timeout: 240_000 }, () => {
  before(async () => {
    // A short period, so the test also sees periodic captures leave the version alone.
    hq = await launchSite('Headquarters', { runArgs: ['--metadata-interval-seconds', '2'] });
    dr = await launchSite('Recovery DC');
    await pairSites(hq, dr);
    const all = await vms(hq);
    const host = all[0]?.hostId;
    chosen = all.filter((v) => v.hostId === host && v.nics.length > 0).slice(0, 2);
    assert.equal(chosen.length, 2, 'two VMs with NICs on one host');
    const hosts = await call<{ hostId: string; datastores: { name: string }[] }[]>(dr, 'host.list');
    drHost = { hostId: hosts[0]?.hostId ?? '', datastore: hosts[0]?.datastores[0]?.name ?? '' };
  });
  after(cleanupAgents);

  it('refuses recovery settings that do not fit the VPG’s VMs, saying why', async () => {
    const [web] = chosen;
    assert.ok(web);
    const error = await errorOf(
      hq,
      'vpg.create',
      settings({ vms: [{ vmId: web.vmId, live: [{ nicName: 'eth9', network: 'dr-lan' }] }] }),
    );
    assert.equal(error.code, INVALID_PARAMS);
    assert.match(error.message, new RegExp(`VM "${web.name}" has no NIC "eth9" \\(its NICs: `));
    const twice = await errorOf(
      hq,
      'vpg.create',
      settings({ vms: [{ vmId: web.vmId }, { vmId: web.vmId, bootGroup: 2 }] }),
    );
    assert.equal(twice.code, INVALID_PARAMS);
    assert.match(twice.message, /has recovery settings twice/);
  });

  it('ships the VMs’ configuration to the recovery site when the VPG is created', async () => {
    const [web, db] = chosen;
    assert.ok(web && db);
    const nic = web.nics[0];
    assert.ok(nic);
    const recovery = {
      vms: [
        {
          vmId: db.vmId,
          bootGroup: 0,
          bootDelaySeconds: 20,
        },
        {
          vmId: web.vmId,
          bootGroup: 1,
          live: [
            {
              nicName: nic.name,
              network: 'dr-lan',
              ip: { mode: 'static', address: '10.99.0.10', prefixLength: 24, gateway: '10.99.0.1' },
            },
          ],
          test: [{ nicName: nic.name, network: 'bubble', ip: { mode: 'dhcp' } }],
        },
      ],
    };
    vpg = VpgStateSchema.parse(await call(hq, 'vpg.create', settings(recovery)));

    const pkg = await untilMetadata(dr, () => true, 'the first package at the recovery site');
    assert.equal(pkg.version, 1);
    assert.equal(pkg.vpgVersion, 0);
    assert.equal(pkg.vpgId, vpg.vpgId);
    assert.equal(pkg.protectedSiteId, hq.siteId);
    assert.deepEqual(
      pkg.vms.map((v) => v.vmId),
      chosen.map((v) => v.vmId),
    );
    for (const [i, vm] of chosen.entries()) {
      const got = pkg.vms[i];
      assert.ok(got);
      assert.deepEqual(
        { name: got.name, cpus: got.cpus, memoryMiB: got.memoryMiB, guestOs: got.guestOs },
        { name: vm.name, cpus: vm.cpus, memoryMiB: vm.memoryMiB, guestOs: vm.guestOs },
      );
      assert.deepEqual(got.nics, vm.nics);
      assert.deepEqual(
        got.disks.map((d) => [d.diskId, d.sizeBytes, d.name]),
        vm.disks.map((d) => [d.diskId, d.sizeBytes, d.name]),
      );
    }
    const hqHosts = await call<{ hostId: string; name: string }[]>(hq, 'host.list');
    assert.deepEqual(pkg.hosts, [
      { hostId: web.hostId, name: hqHosts.find((h) => h.hostId === web.hostId)?.name },
    ]);
    const nicNetworks = new Set(chosen.flatMap((v) => v.nics.map((n) => n.network)));
    assert.deepEqual(new Set(pkg.networks.map((n) => n.name)), nicNetworks);
    // The protected site answers from its capture: the same package.
    assert.deepEqual(await metadataOf(hq), pkg);

    // The recovery settings travel with the VPG's settings, under the package's vpgVersion.
    const atDr = VpgStateSchema.parse(await call(dr, 'vpg.state', { vpgId: vpg.vpgId }));
    assert.equal(atDr.version, pkg.vpgVersion);
    assert.deepEqual(atDr.recovery, VpgStateSchema.parse(vpg).recovery);
    const webAtDr = atDr.recovery?.vms.find((v) => v.vmId === web.vmId);
    assert.equal(webAtDr?.bootGroup, 1);
    assert.deepEqual(webAtDr?.live[0]?.ip, {
      mode: 'static',
      address: '10.99.0.10',
      prefixLength: 24,
      gateway: '10.99.0.1',
      dns: [],
    });
    assert.equal(atDr.recovery?.vms.find((v) => v.vmId === db.vmId)?.bootDelaySeconds, 20);
    await untilVpg(dr, vpg.vpgId, isStatus('Protecting'), 'Protecting at the recovery site');
    const file = MetadataPackageSchema.parse(JSON.parse(await readFile(metadataFile(dr), 'utf8')));
    assert.deepEqual(file, pkg);
  });

  it('leaves the version alone while nothing changes (periodic captures)', async () => {
    const before = await stat(metadataFile(dr));
    await sleep(5_000); // two periods of 2 s
    assert.equal((await metadataOf(dr)).version, 1);
    assert.equal((await metadataOf(hq)).version, 1);
    assert.equal((await stat(metadataFile(dr))).mtimeMs, before.mtimeMs, 'not rewritten');
  });

  it('ships a new version after vpg.update of the recovery settings, and refuses bad ones', async () => {
    const [web, db] = chosen;
    assert.ok(web && db);
    const bad = await errorOf(hq, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: 0,
      settings: { recovery: { vms: [{ vmId: 'vm-not-in-the-vpg' }] } },
    });
    assert.equal(bad.code, INVALID_PARAMS);
    assert.match(bad.message, /VM vm-not-in-the-vpg is not in the VPG/);

    vpg = VpgStateSchema.parse(
      await call(hq, 'vpg.update', {
        vpgId: vpg.vpgId,
        version: 0,
        settings: { recovery: { vms: [{ vmId: db.vmId, bootGroup: 3, bootDelaySeconds: 60 }] } },
      }),
    );
    assert.equal(vpg.version, 1);
    const pkg = await untilMetadata(dr, (p) => p.version === 2, 'version 2 at the recovery site');
    assert.equal(pkg.vpgVersion, 1);
    const atDr = VpgStateSchema.parse(await call(dr, 'vpg.state', { vpgId: vpg.vpgId }));
    assert.equal(atDr.version, 1);
    assert.deepEqual(atDr.recovery?.vms, [
      { vmId: db.vmId, bootGroup: 3, bootDelaySeconds: 60, live: [], test: [] },
    ]);
  });

  it('catches up a recovery site that was down while the protected VMs changed', async () => {
    await stopSite(dr);
    await untilLinked(hq, false);
    // Settings cannot change while the recovery site is unreachable (both sites must agree)…
    const refused = await errorOf(hq, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: 1,
      settings: { rpoTargetSeconds: 60 },
    });
    assert.equal(refused.code, UNAVAILABLE);
    // …but the VMs can: an admin resizes one (the sim's inventory, read at start).
    await stopSite(hq);
    const inventoryFile = join(hq.creds.dataDir, 'state', 'inventory.json');
    const inventory = JSON.parse(await readFile(inventoryFile, 'utf8')) as {
      vms: { vmId: string; memoryMiB: number }[];
    };
    const resized = inventory.vms.find((v) => v.vmId === chosen[1]?.vmId);
    assert.ok(resized);
    resized.memoryMiB *= 2;
    await writeFile(inventoryFile, JSON.stringify(inventory, null, 2));
    await startSite(hq);
    const captured = await untilMetadata(hq, (p) => p.version === 3, 'version 3 captured');
    assert.equal(captured.vms[1]?.memoryMiB, resized.memoryMiB);
    assert.equal(captured.vpgVersion, 1);

    await startSite(dr);
    const pkg = await untilMetadata(dr, (p) => p.version === 3, 'version 3 at the recovery site');
    assert.deepEqual(pkg, captured);
  });

  it('keeps the package across a restart of the recovery site, with the protected site down', async () => {
    const held = await metadataOf(dr);
    await stopSite(hq);
    await stopSite(dr);
    await startSite(dr);
    assert.deepEqual(await metadataOf(dr), held);
  });

  it('shows MissingConfiguration while the recovery site has no package, until it arrives', async () => {
    await stopSite(dr);
    await rm(metadataFile(dr));
    await startSite(dr);
    // HQ is down: RPO grows (RpoNotMet) but without a package the VMs could not be rebuilt.
    const missing = await untilVpg(
      dr,
      vpg.vpgId,
      isStatus('MissingConfiguration'),
      'MissingConfiguration',
      60_000,
    );
    assert.match(missing.statusMessage ?? '', /metadata package/);
    const none = await errorOf(dr, 'vpg.metadata', { vpgId: vpg.vpgId });
    assert.equal(none.code, NOT_FOUND);
    assert.match(none.message, /has no metadata package of VPG "metadata" yet/);

    await startSite(hq);
    const pkg = await untilMetadata(dr, () => true, 'the package sent again at link up');
    assert.equal(pkg.version, 3, 'the same version: nothing changed at the protected site');
    await untilVpg(dr, vpg.vpgId, isStatus('Protecting', 'RpoNotMet'), 'configured again');
  });

  it('lists networks and removes the package with the VPG', async () => {
    const networks = await hq.client.request('network.list', {}, 10_000);
    // The sim answers its networks, or UNAVAILABLE where it has none yet.
    if (networks.error !== undefined) assert.equal(networks.error.code, UNAVAILABLE);
    else {
      const names = NetworkSchema.array()
        .parse(networks.result)
        .map((n) => n.name);
      const used = chosen.flatMap((v) => v.nics.map((n) => n.network));
      assert.deepEqual(
        used.filter((n) => !names.includes(n)),
        [],
        'the sim lists its VMs’ networks',
      );
    }
    await call(hq, 'vpg.remove', { vpgId: vpg.vpgId });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const gone = await dr.client.request('vpg.metadata', { vpgId: vpg.vpgId }, 10_000);
      if (gone.error?.code === NOT_FOUND && /is not on this agent/.test(gone.error.message)) break;
      assert.ok(Date.now() < deadline, 'the recovery site dropped the VPG');
      await sleep(200);
    }
    await assert.rejects(stat(metadataFile(dr)), { code: 'ENOENT' });
    await assert.rejects(stat(join(hq.creds.dataDir, 'state', 'metadata', `${vpg.vpgId}.json`)), {
      code: 'ENOENT',
    });
  });
});
