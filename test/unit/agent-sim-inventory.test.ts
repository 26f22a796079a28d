import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { HostSchema, VmSchema } from '../../app/protocol';
import { dataDirLayout } from '../../agent/config/data-dir';
import {
  generateSimInventory,
  MAX_SIM_VMS,
  SimInventorySchema,
} from '../../agent/hypervisor/sim/generator';
import { provisionSim } from '../../agent/hypervisor/sim/provision';
import { SimHypervisor } from '../../agent/hypervisor/sim/sim-adapter';

const GiB = 1024 ** 3;

describe('sim inventory generator', () => {
  it('is deterministic for a site', () => {
    const a = generateSimInventory({ siteName: 'Headquarters', idSalt: 'agent-1' });
    const b = generateSimInventory({ siteName: 'Headquarters', idSalt: 'agent-1' });
    assert.deepEqual(a, b);
  });

  it('gives two sites different VMs, and two agents different ids', () => {
    const hq = generateSimInventory({ siteName: 'Headquarters', idSalt: 'x' });
    const dr = generateSimInventory({ siteName: 'Disaster Recovery', idSalt: 'x' });
    assert.notDeepEqual(
      hq.vms.map((v) => v.name),
      dr.vms.map((v) => v.name),
    );
    const other = generateSimInventory({ siteName: 'Headquarters', idSalt: 'y' });
    assert.deepEqual(
      hq.vms.map((v) => v.name),
      other.vms.map((v) => v.name),
    );
    assert.notEqual(hq.vms[0]?.vmId, other.vms[0]?.vmId);
    assert.notEqual(hq.vms[0]?.nics[0]?.mac, other.vms[0]?.nics[0]?.mac);
  });

  for (const site of ['Headquarters', 'Disaster Recovery', 'Branch 7', 'Ünïcødé & Co', 'x']) {
    it(`is schema-valid and realistic for "${site}"`, () => {
      const inv = generateSimInventory({ siteName: site, idSalt: 'salt' });
      assert.ok(SimInventorySchema.safeParse(inv).success);
      assert.equal(inv.hosts.length, 1);
      for (const host of inv.hosts) assert.ok(HostSchema.safeParse(host).success);
      assert.ok(inv.vms.length >= 4 && inv.vms.length <= 6, `${inv.vms.length} VMs`);
      assert.equal(inv.vms.filter((v) => v.powerState === 'stopped').length, 1, 'one VM stopped');
      const names = new Set<string>();
      const macs = new Set<string>();
      for (const vm of inv.vms) {
        assert.ok(VmSchema.safeParse(vm).success, vm.name);
        assert.equal(vm.hostId, inv.hosts[0]?.hostId);
        assert.match(vm.name, /^[a-z]+-\d\d$/);
        names.add(vm.name);
        assert.ok(vm.nics.length >= 1);
        for (const nic of vm.nics) {
          assert.ok(['prod-web', 'prod-app', 'prod-db', 'mgmt'].includes(nic.network));
          macs.add(nic.mac);
        }
        for (const disk of vm.disks) {
          assert.ok(disk.sizeBytes >= GiB && disk.sizeBytes <= 8 * GiB);
          assert.equal(disk.location, `datastores/${disk.datastore}/${vm.name}/${disk.name}.raw`);
        }
      }
      assert.equal(names.size, inv.vms.length, 'VM names unique');
      assert.equal(macs.size, inv.vms.flatMap((v) => v.nics).length, 'MACs unique');
    });
  }

  it('spreads VMs over several hosts when asked', () => {
    const inv = generateSimInventory({ siteName: 'Big', hostCount: 3 });
    assert.equal(inv.hosts.length, 3);
    for (const host of inv.hosts) {
      const vms = inv.vms.filter((v) => v.hostId === host.hostId);
      assert.ok(vms.length >= 4 && vms.length <= 6);
      const used = vms.flatMap((v) => v.disks).reduce((s, d) => s + d.sizeBytes, 0);
      const ds = host.datastores[0];
      assert.ok(ds !== undefined && ds.capacityBytes - ds.freeBytes === used);
    }
    assert.equal(new Set(inv.vms.map((v) => v.name)).size, inv.vms.length);
  });

  it('makes as many VMs as asked, up to the most a host takes, all distinct', () => {
    for (const count of [1, 16, MAX_SIM_VMS]) {
      const inv = generateSimInventory({ siteName: 'Load', vmsPerHost: [count, count] });
      assert.ok(SimInventorySchema.safeParse(inv).success);
      assert.equal(inv.vms.length, count);
      const distinct = (values: string[]) => assert.equal(new Set(values).size, values.length);
      distinct(inv.vms.map((v) => v.name));
      distinct(inv.vms.map((v) => v.vmId));
      distinct(inv.vms.flatMap((v) => v.nics.map((n) => n.mac)));
      distinct(inv.vms.flatMap((v) => v.nics.flatMap((n) => n.ipAddress ?? [])));
      distinct(inv.vms.flatMap((v) => v.disks.map((d) => d.location)));
      if (count === 16) assert.ok(inv.vms.flatMap((v) => v.disks).length >= 20, '16 VMs: 20 disks');
    }
  });
});

describe('sim provisioning and adapter', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tideline-sim-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates every disk as a sparse file of its full size, and the adapter serves it', async () => {
    const layout = dataDirLayout(root);
    const inv = await provisionSim(layout, { siteName: 'Headquarters', idSalt: 'a' });
    const saved = SimInventorySchema.parse(
      JSON.parse(await readFile(layout.inventoryFile, 'utf8')),
    );
    assert.deepEqual(saved, inv);
    for (const disk of inv.vms.flatMap((v) => v.disks)) {
      const info = await stat(join(root, disk.location));
      assert.equal(info.size, disk.sizeBytes);
      assert.ok(info.blocks * 512 < 1024 * 1024, `${disk.name} is sparse (${info.blocks} blocks)`);
    }
    await assert.rejects(provisionSim(layout, { siteName: 'Headquarters', idSalt: 'a' }), {
      code: 'EEXIST',
    });

    const sim = new SimHypervisor(layout, pino({ level: 'silent' }));
    await sim.start();
    const hosts = await sim.listHosts();
    assert.deepEqual(hosts, inv.hosts);
    const vms = await sim.listVms();
    assert.equal(vms.length, inv.vms.length);
    for (const vm of vms) {
      assert.ok(VmSchema.safeParse(vm).success);
      for (const disk of vm.disks) {
        assert.ok(isAbsolute(disk.location));
        assert.ok(disk.location.startsWith(join(root, 'datastores')));
      }
    }
    assert.equal((await sim.listVms({ hostId: hosts[0]?.hostId })).length, vms.length);
    assert.deepEqual(await sim.listVms({ hostId: 'nope' }), []);
    await sim.stop();
  });
});
