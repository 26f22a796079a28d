/**
 * The one contract every hypervisor adapter (agent/hypervisor/adapter.ts) passes: inventory in
 * the protocol's shapes, networks by name, registration of recovered VMs, power, and — for
 * adapters that mirror their VMs' disks into the tap — attaching and detaching a running VM's
 * disk. Each adapter's test file opens a subject and calls hypervisorContract().
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import { HostSchema, NetworkSchema, VmSchema, type Host, type Vm } from '../../app/protocol';
import type {
  HypervisorAdapter,
  MirrorTarget,
  VmRegistration,
} from '../../agent/hypervisor/adapter';

export interface ContractSubject {
  readonly adapter: HypervisorAdapter;
  /** A disk a registered VM can be given: a file of `sizeBytes` (made by the subject). */
  diskLocation(name: string, sizeBytes: number): Promise<string>;
  /**
   * A running VM with one raw disk and a live NBD export to mirror it into (adapters with
   * `mirroring` on a real hypervisor); undefined: the mirroring part is skipped with a reason.
   */
  mirrorRig?(): Promise<{ vmId: string; diskId: string; target: MirrorTarget }>;
  /** Why the mirroring part is skipped (when there is no mirrorRig). */
  readonly mirrorSkip?: string;
  /**
   * Defines a VM behind the adapter's back (another tool, an admin), resolving its id; absent
   * where nothing else can reach the hypervisor.
   */
  defineElsewhere?(name: string): Promise<string>;
  /** The hardware of the VMs it registers (default: an x86_64 QEMU guest without KVM). */
  readonly hardware?: VmRegistration['hardware'];
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

export async function rejectsWith(promise: Promise<unknown>, code: string, text?: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TidelineError, String(err));
    assert.equal(err.code, code, err.message);
    if (text !== undefined) assert.match(err.message, text);
    return true;
  });
}

/**
 * Runs the contract against the subject `open` makes (or skips it, when `open` answers with a
 * reason: e.g. no libvirtd on this machine).
 */
export function hypervisorContract(
  name: string,
  open: () => Promise<ContractSubject | string>,
): void {
  describe(`hypervisor contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    let skip: string | undefined;
    let host: Host;
    const tag = randomBytes(3).toString('hex');
    const network = `tlc-net-${tag}`;
    const adapter = (): HypervisorAdapter => {
      if (subject === undefined) throw new Error('no subject');
      return subject.adapter;
    };

    before(async () => {
      const opened = await open();
      if (typeof opened === 'string') {
        skip = opened;
        return;
      }
      subject = opened;
      await subject.adapter.start();
      const hosts = await subject.adapter.listHosts();
      assert.ok(hosts[0], 'the hypervisor has a host');
      host = hosts[0];
    });

    after(async () => {
      if (subject === undefined) return;
      await subject.adapter.stop().catch(() => undefined);
      await subject.cleanup();
    });

    const registration = async (
      overrides: Partial<VmRegistration> = {},
    ): Promise<VmRegistration> => ({
      name: `tlc-web-${tag}`,
      hostId: host.hostId,
      cpus: 1,
      memoryMiB: 64,
      guestOs: 'Debian 12',
      nics: [{ name: 'net0', mac: '52:54:00:7c:00:01', network, model: 'virtio' }],
      disks: [
        {
          diskId: `tlc-disk-${tag}`,
          name: 'vda',
          sizeBytes: 16 * MiB,
          datastore: host.datastores[0]?.name ?? 'datastore1',
          location: await (subject as ContractSubject).diskLocation(`web-${tag}`, 16 * MiB),
          format: 'raw',
          target: 'vda',
          bus: 'virtio',
        },
      ],
      recoveredFrom: {
        vpgId: `vpg-${tag}`,
        failoverId: `f-${tag}`,
        mode: 'test',
        sourceVmId: 'vm-src',
      },
      // As a libvirt VM's metadata package has it (emulation: no KVM on the test machines).
      hardware: subject?.hardware ?? {
        domainType: 'qemu',
        arch: 'x86_64',
        machine: 'pc',
        firmware: 'bios',
      },
      ...overrides,
    });
    const find = async (vmId: string): Promise<Vm | undefined> =>
      (await adapter().listVms()).find((v) => v.vmId === vmId);
    let vmId = '';

    it('lists its hosts, VMs and networks in the protocol’s shapes', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const hosts = await adapter().listHosts();
      for (const h of hosts) {
        HostSchema.parse(h);
        assert.equal(h.hypervisor, adapter().kind);
      }
      const vms = await adapter().listVms();
      for (const vm of vms) VmSchema.parse(vm);
      const ids = new Set(hosts.map((h) => h.hostId));
      assert.ok(
        vms.every((vm) => ids.has(vm.hostId)),
        'every VM is on one of its hosts',
      );
      assert.deepEqual(await adapter().listVms({ hostId: 'no-such-host' }), []);
      assert.deepEqual(
        (await adapter().listVms({ hostId: host.hostId })).map((v) => v.vmId),
        vms.filter((v) => v.hostId === host.hostId).map((v) => v.vmId),
      );
      for (const n of await adapter().listNetworks()) NetworkSchema.parse(n);
    });

    it('creates an isolated network once by name', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const created = await adapter().createNetwork({ name: network, isolated: true });
      assert.deepEqual(
        { name: created.name, isolated: created.isolated },
        { name: network, isolated: true },
      );
      const listed = (await adapter().listNetworks()).filter((n) => n.name === network);
      assert.deepEqual(
        listed.map((n) => n.isolated),
        [true],
      );
      await rejectsWith(adapter().createNetwork({ name: network, isolated: false }), 'CONFLICT');
      await rejectsWith(adapter().deleteNetwork(`tlc-none-${tag}`), 'NOT_FOUND');
    });

    it('registers a recovered VM powered off, with its disks, NICs, hardware and origin', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const base = await registration();
      await rejectsWith(
        adapter().registerVm({
          ...base,
          nics: [{ ...base.nics[0]!, network: `tlc-nowhere-${tag}` }],
        }),
        'NOT_FOUND',
        /nowhere/,
      );
      await rejectsWith(adapter().registerVm({ ...base, hostId: 'no-such-host' }), 'NOT_FOUND');
      const vm = await adapter().registerVm(base);
      vmId = vm.vmId;
      VmSchema.parse(vm);
      assert.equal(vm.powerState, 'stopped');
      assert.ok(vm.name.includes(base.name), `"${vm.name}" names the VM it recovers`);
      assert.equal(vm.hostId, host.hostId);
      assert.deepEqual(
        vm.disks.map((d) => d.diskId),
        [`tlc-disk-${tag}`],
        'disk ids are kept',
      );
      assert.deepEqual(
        vm.disks.map((d) => d.location),
        base.disks.map((d) => d.location),
      );
      assert.deepEqual(
        vm.nics.map((n) => [n.mac, n.network]),
        [['52:54:00:7c:00:01', network]],
      );
      assert.deepEqual(vm.recoveredFrom, base.recoveredFrom);
      assert.deepEqual(await find(vm.vmId), vm, 'listVms shows it as registered');
      await rejectsWith(adapter().registerVm(base), 'CONFLICT', new RegExp(`tlc-disk-${tag}`));
      await rejectsWith(adapter().deleteNetwork(network), 'CONFLICT');
    });

    it('powers a VM on and off (already so: at once), and refuses to unregister it running', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const started = Date.now();
      const on = await adapter().powerOn(vmId);
      assert.equal(on.vmId, vmId);
      assert.ok(on.at >= started && on.at <= Date.now());
      assert.equal((await find(vmId))?.powerState, 'running');
      await adapter().powerOn(vmId);
      await rejectsWith(adapter().unregisterVm(vmId), 'CONFLICT', /power it off/);
      const off = await adapter().powerOff(vmId);
      assert.ok(off.at >= on.at);
      assert.equal((await find(vmId))?.powerState, 'stopped');
      await adapter().powerOff(vmId);
      await adapter().powerOn(vmId);
      await adapter().powerOff(vmId, { force: true });
      assert.equal((await find(vmId))?.powerState, 'stopped');
      await rejectsWith(adapter().powerOn(`00000000-0000-4000-8000-${tag}000000`), 'NOT_FOUND');
    });

    it('unregisters a VM and keeps its disks; its network can then go', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const vm = await find(vmId);
      await adapter().unregisterVm(vmId);
      assert.equal(await find(vmId), undefined);
      await rejectsWith(adapter().unregisterVm(vmId), 'NOT_FOUND');
      const location = vm?.disks[0]?.location ?? '';
      if (location.startsWith('/')) await access(location); // the disk file is still there
      await adapter().deleteNetwork(network);
      assert.ok(!(await adapter().listNetworks()).some((n) => n.name === network));
    });

    it('notices a VM defined elsewhere and announces the change', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const watch = adapter().onInventoryChanged?.bind(adapter());
      if (watch === undefined || subject?.defineElsewhere === undefined) {
        return t.skip(`nothing but ${adapter().kind}'s adapter changes its inventory here`);
      }
      const announced: string[] = [];
      const off = watch((kinds) => announced.push(...kinds));
      try {
        const vmId = await subject.defineElsewhere(`tlc-outside-${tag}`);
        const deadline = Date.now() + 30_000;
        while (!(announced.includes('vm') && (await find(vmId)) !== undefined)) {
          assert.ok(Date.now() < deadline, `announced ${JSON.stringify(announced)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        off();
      }
    });

    it('mirrors a running VM’s disk into an NBD export, and ends the mirror on detach', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const mirroring = adapter().mirroring;
      if (mirroring === undefined)
        return t.skip(`${adapter().kind} VMs write through the tap itself`);
      if (subject?.mirrorRig === undefined)
        return t.skip(subject?.mirrorSkip ?? 'no running VM to mirror');
      const rig = await subject.mirrorRig();
      assert.equal(await mirroring.state(rig.vmId, rig.diskId, rig.target), 'none');
      await mirroring.attach(rig.vmId, rig.diskId, rig.target);
      assert.equal(await mirroring.state(rig.vmId, rig.diskId, rig.target), 'ready');
      // A second attach (a new agent process) ends the old mirror and starts a new one.
      await mirroring.attach(rig.vmId, rig.diskId, rig.target);
      assert.equal(await mirroring.state(rig.vmId, rig.diskId, rig.target), 'ready');
      await mirroring.detach(rig.vmId, rig.diskId);
      assert.equal(await mirroring.state(rig.vmId, rig.diskId, rig.target), 'none');
      assert.equal((await find(rig.vmId))?.powerState, 'running', 'the VM runs on');
      await mirroring.detach(rig.vmId, rig.diskId);
      await adapter().powerOff(rig.vmId, { force: true });
      assert.equal(await mirroring.state(rig.vmId, rig.diskId, rig.target), 'off');
      await rejectsWith(
        mirroring.attach(rig.vmId, rig.diskId, rig.target),
        'CONFLICT',
        /not running/,
      );
    });
  });
}
