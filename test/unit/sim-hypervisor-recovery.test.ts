import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TidelineError } from '../../app/errors';
import type { Vm } from '../../app/protocol';
import { dataDirLayout, type DataDirLayout } from '../../agent/config/data-dir';
import type { VmRegistration } from '../../agent/hypervisor/adapter';
import { SimInventorySchema } from '../../agent/hypervisor/sim/generator';
import { provisionSim } from '../../agent/hypervisor/sim/provision';
import { SimHypervisor } from '../../agent/hypervisor/sim/sim-adapter';

/** The recovery operations of the sim hypervisor: networks, registration, power. */

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;

async function rejectsWith(promise: Promise<unknown>, code: string, text?: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TidelineError, String(err));
    assert.equal(err.code, code, err.message);
    if (text !== undefined) assert.match(err.message, text);
    return true;
  });
}

async function savedInventory(layout: DataDirLayout) {
  return SimInventorySchema.parse(JSON.parse(await readFile(layout.inventoryFile, 'utf8')));
}

describe('sim hypervisor recovery operations', () => {
  let dir: string;
  let layout: DataDirLayout;
  let sim: SimHypervisor;
  let original: Vm[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tideline-sim-recovery-'));
    layout = dataDirLayout(dir);
    await provisionSim(layout, { siteName: 'Recovery DC', idSalt: 'a', diskBytes: MiB });
    sim = new SimHypervisor(layout, log);
    await sim.start();
    original = await sim.listVms();
  });

  after(async () => {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const registration = (overrides: Partial<VmRegistration> = {}): VmRegistration => ({
    name: 'web-01',
    hostId: original[0]?.hostId ?? 'none',
    cpus: 2,
    memoryMiB: 2048,
    guestOs: 'Debian 12',
    nics: [{ name: 'eth0', mac: '52:54:00:aa:bb:cc', network: 'dmz-test', ipAddress: '10.9.9.9' }],
    disks: [
      {
        diskId: 'rdisk-1',
        name: 'web-01-disk0',
        sizeBytes: MiB,
        datastore: 'datastore1',
        location: 'nbd+unix:///rdisk-1?socket=/tmp/x.sock',
      },
    ],
    recoveredFrom: { vpgId: 'vpg-1', failoverId: 'f-1', mode: 'test', sourceVmId: 'vm-src' },
    ...overrides,
  });

  it('starts with the networks of its VMs, each with its 10.x subnet', async () => {
    const networks = await sim.listNetworks();
    const used = new Set(original.flatMap((vm) => vm.nics.map((n) => n.network)));
    assert.deepEqual(new Set(networks.map((n) => n.name)), used);
    for (const network of networks) {
      assert.equal(network.isolated, false);
      assert.match(network.subnet ?? '', /^10\.\d+\.\d+\.0\/24$/);
      const nic = original.flatMap((vm) => vm.nics).find((n) => n.network === network.name);
      const prefix = (nic?.ipAddress ?? '').split('.').slice(0, 3).join('.');
      assert.equal(network.subnet, `${prefix}.0/24`);
    }
  });

  it('creates a network once by name and refuses a second of that name', async () => {
    const created = await sim.createNetwork({ name: 'dmz-test', isolated: true });
    assert.deepEqual(created, { name: 'dmz-test', isolated: true });
    await rejectsWith(sim.createNetwork({ name: 'dmz-test', isolated: false }), 'CONFLICT');
    const existing = (await sim.listNetworks())[0]?.name ?? '';
    await rejectsWith(sim.createNetwork({ name: existing, isolated: true }), 'CONFLICT');
    assert.equal((await sim.listNetworks()).filter((n) => n.name === 'dmz-test').length, 1);
    assert.ok((await savedInventory(layout)).networks?.some((n) => n.name === 'dmz-test'));
  });

  it('registers a VM powered off, with a new id, its NICs and its disks as given', async () => {
    await rejectsWith(
      sim.registerVm(registration({ nics: [{ ...registration().nics[0]!, network: 'nowhere' }] })),
      'NOT_FOUND',
      /nowhere/,
    );
    await rejectsWith(sim.registerVm(registration({ hostId: 'host-missing' })), 'NOT_FOUND');
    const vm = await sim.registerVm(registration());
    assert.match(vm.vmId, /^vm-[0-9a-f]{12}$/);
    assert.ok(!original.some((v) => v.vmId === vm.vmId));
    assert.equal(vm.powerState, 'stopped');
    assert.equal(vm.disks[0]?.location, 'nbd+unix:///rdisk-1?socket=/tmp/x.sock');
    assert.deepEqual(vm.recoveredFrom?.mode, 'test');
    const listed = (await sim.listVms()).find((v) => v.vmId === vm.vmId);
    assert.deepEqual(listed, vm, 'listVms keeps an NBD location as it is');
    const other = await sim.registerVm(
      registration({ disks: [{ ...registration().disks[0]!, diskId: 'rdisk-2' }] }),
    );
    assert.notEqual(other.vmId, vm.vmId);
    await rejectsWith(sim.registerVm(registration()), 'CONFLICT', /rdisk-1/);
    await sim.powerOff(other.vmId);
    await sim.unregisterVm(other.vmId);
  });

  it('refuses to delete a network in use, or one that does not exist', async () => {
    await rejectsWith(sim.deleteNetwork('dmz-test'), 'CONFLICT', /web-01/);
    await rejectsWith(sim.deleteNetwork('nope'), 'NOT_FOUND');
  });

  it('powers VMs on and off, records when, and keeps it across a restart', async () => {
    const vm = (await sim.listVms()).find((v) => v.name === 'web-01') as Vm;
    const before = Date.now();
    const on = await sim.powerOn(vm.vmId);
    assert.ok(on.at >= before && on.at <= Date.now());
    assert.equal((await sim.listVms()).find((v) => v.vmId === vm.vmId)?.powerState, 'running');
    const again = await sim.powerOn(vm.vmId);
    assert.ok(again.at >= on.at, 'already on: resolves at once');
    await rejectsWith(sim.unregisterVm(vm.vmId), 'CONFLICT', /power it off/);
    await rejectsWith(sim.powerOn('vm-000000000000'), 'NOT_FOUND');

    const restarted = new SimHypervisor(layout, log);
    await restarted.start();
    const log1 = restarted.powerLog().filter((e) => e.vmId === vm.vmId);
    assert.deepEqual(log1, [{ vmId: vm.vmId, state: 'running', at: on.at }]);
    await restarted.stop();

    const off = await sim.powerOff(vm.vmId, { force: true });
    assert.ok(off.at >= on.at);
    assert.deepEqual(
      sim
        .powerLog()
        .filter((e) => e.vmId === vm.vmId)
        .map((e) => e.state),
      ['running', 'stopped'],
    );
  });

  it('unregisters a powered-off VM, then lets its network go', async () => {
    const vm = (await sim.listVms()).find((v) => v.name === 'web-01') as Vm;
    await sim.unregisterVm(vm.vmId);
    await rejectsWith(sim.unregisterVm(vm.vmId), 'NOT_FOUND');
    await sim.deleteNetwork('dmz-test');
    assert.deepEqual(
      (await sim.listVms()).map((v) => v.vmId),
      original.map((v) => v.vmId),
    );
    const saved = await savedInventory(layout);
    assert.ok(!saved.networks?.some((n) => n.name === 'dmz-test'));
    assert.equal(saved.vms.length, original.length);
  });

  it('gives an inventory file without networks the networks of its VMs', async () => {
    const oldDir = await mkdtemp(join(tmpdir(), 'tideline-sim-old-'));
    try {
      const oldLayout = dataDirLayout(oldDir);
      const provisioned = await provisionSim(oldLayout, {
        siteName: 'Old Site',
        idSalt: 'b',
        diskBytes: MiB,
      });
      const { networks: _n, powerLog: _p, ...old } = provisioned;
      await writeFile(oldLayout.inventoryFile, JSON.stringify(old));
      const oldSim = new SimHypervisor(oldLayout, log);
      await oldSim.start();
      const names = (await oldSim.listNetworks()).map((n) => n.name).sort();
      const used = [...new Set(old.vms.flatMap((vm) => vm.nics.map((n) => n.network)))].sort();
      assert.deepEqual(names, used);
      assert.deepEqual((await savedInventory(oldLayout)).networks?.map((n) => n.name).sort(), used);
      await oldSim.stop();
    } finally {
      await rm(oldDir, { recursive: true, force: true });
    }
  });
});
