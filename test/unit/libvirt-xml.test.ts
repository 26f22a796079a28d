import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VmSchema } from '../../app/protocol';
import { domainToVm } from '../../agent/hypervisor/libvirt/domain-vm';
import {
  buildDomainXml,
  nbdCopyTargetXml,
  parseDomainXml,
  parseNbdUri,
} from '../../agent/hypervisor/libvirt/domain-xml';
import { parseEventLine } from '../../agent/hypervisor/libvirt/libvirt-events';
import { describeCommand, libvirtError } from '../../agent/hypervisor/libvirt/libvirt-errors';
import {
  buildNetworkXml,
  parseNetworkXml,
  parsePoolXml,
} from '../../agent/hypervisor/libvirt/network-xml';

/** A running domain as libvirt 9 prints it, with a block copy in progress on vda. */
const RUNNING = `<domain type='qemu' id='7'>
  <name>web-01</name>
  <uuid>8400B5A1-1DDA-400E-A7B5-B465E2FF7DAA</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
    <boot dev='network'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='/var/lib/libvirt/images/web-01.raw' index='1'/>
      <backingStore/>
      <mirror type='network' job='copy' ready='yes'>
        <format type='raw'/>
        <source protocol='nbd' name='disk-1' tls='no' index='3'>
          <host transport='unix' socket='/var/lib/tideline/nbd.sock'/>
        </source>
        <backingStore/>
      </mirror>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web-01-data.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/iso/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:65:2A:BC'/>
      <source network='lan' portid='ae4e0c4e' bridge='virbr1'/>
      <model type='e1000'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:02'/>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>`;

describe('libvirt domain XML', () => {
  it('reads what recovery needs: hardware, disks, NICs, boot order, a block copy', () => {
    const d = parseDomainXml(RUNNING);
    assert.equal(d.uuid, '8400b5a1-1dda-400e-a7b5-b465e2ff7daa');
    assert.equal(d.active, true);
    assert.equal(d.vcpus, 2);
    assert.equal(d.memoryBytes, 1024 ** 3, 'the current memory');
    assert.deepEqual([d.arch, d.machine, d.firmware], ['x86_64', 'pc-q35-7.2', 'bios']);
    assert.deepEqual(d.bootDevices, ['hd', 'network']);
    assert.equal(d.osId, 'http://debian.org/debian/12');
    const [vda, vdb, cdrom] = d.disks;
    assert.deepEqual(
      [vda?.target, vda?.bus, vda?.format, vda?.path, vda?.bootOrder],
      ['vda', 'virtio', 'raw', '/var/lib/libvirt/images/web-01.raw', 1],
    );
    assert.deepEqual(vda?.mirror, {
      job: 'copy',
      ready: 'yes',
      socket: '/var/lib/tideline/nbd.sock',
      exportName: 'disk-1',
    });
    assert.equal(vdb?.format, 'qcow2');
    assert.equal(cdrom?.readonly, true);
    assert.deepEqual(
      d.nics.map((n) => [n.type, n.mac, n.source, n.model]),
      [
        ['network', '52:54:00:65:2a:bc', 'lan', 'e1000'],
        ['bridge', '52:54:00:00:00:02', 'br0', 'virtio'],
      ],
    );
  });

  it('makes a Vm with the reason it cannot be protected, naming the disk and the fix', () => {
    const vm = domainToVm(parseDomainXml(RUNNING), {
      hostId: 'host-1',
      powerState: 'running',
      diskSizes: new Map([
        ['vda', 8 * 1024 ** 3],
        ['vdb', 20 * 1024 ** 3],
      ]),
      addresses: new Map([['52:54:00:65:2a:bc', '10.0.0.5']]),
      pools: [
        {
          name: 'images',
          type: 'dir',
          capacityBytes: 1,
          freeBytes: 1,
          path: '/var/lib/libvirt/images',
        },
      ],
    });
    VmSchema.parse(vm);
    assert.equal(vm.vmId, '8400b5a1-1dda-400e-a7b5-b465e2ff7daa');
    assert.equal(vm.guestOs, 'debian/12');
    assert.deepEqual(
      vm.disks.map((d) => [d.diskId, d.name, d.datastore, d.bootOrder]),
      [
        ['8400b5a1-1dda-400e-a7b5-b465e2ff7daa-vda', 'vda', 'images', 1],
        ['8400b5a1-1dda-400e-a7b5-b465e2ff7daa-vdb', 'vdb', 'images', undefined],
      ],
      'the CD-ROM is not a VM disk',
    );
    assert.match(
      vm.cannotProtect ?? '',
      /Disk vdb of VM "web-01" is a qcow2 image .*qemu-img convert -O raw/,
    );
    assert.deepEqual(
      vm.nics.map((n) => [n.name, n.network, n.ipAddress]),
      [
        ['net0', 'lan', '10.0.0.5'],
        ['net1', 'br0', undefined],
      ],
    );
    assert.deepEqual(vm.hardware, {
      domainType: 'qemu',
      arch: 'x86_64',
      machine: 'pc-q35-7.2',
      firmware: 'bios',
      bootDevices: ['hd', 'network'],
    });
  });

  it('builds a recovered domain that reads back the same, its disk ids and origin kept', () => {
    const xml = buildDomainXml({
      uuid: '11111111-2222-4333-8444-555555555555',
      name: `web-01 <"&'> (test)`,
      domainType: 'qemu',
      vcpus: 2,
      memoryMiB: 1024,
      arch: 'x86_64',
      machine: 'q35',
      firmware: 'bios',
      bootDevices: ['hd'],
      disks: [
        {
          diskId: 'rec-1',
          target: 'vda',
          bus: 'virtio',
          location: 'nbd+unix:///rec-1?socket=/var/lib/tideline/nbd.sock',
          bootOrder: 1,
        },
        { diskId: 'rec-2', target: 'sda', bus: 'sata', location: '/dev/vg0/data' },
      ],
      nics: [{ mac: '52:54:00:65:2a:bc', network: 'lan-test', model: 'e1000' }],
      consoleLog: '/var/log/libvirt/qemu/x.log',
      metadata: {
        diskIds: new Map([
          ['vda', 'rec-1'],
          ['sda', 'rec-2'],
        ]),
        guestOs: 'debian/12',
        recoveredFrom: { vpgId: 'v1', failoverId: 'f1', mode: 'test', sourceVmId: 's1' },
      },
    });
    const d = parseDomainXml(xml);
    assert.equal(d.name, `web-01 <"&'> (test)`, 'names are escaped, not interpreted');
    assert.deepEqual(
      d.disks.map((x) => [x.type, x.target, x.bus, x.bootOrder]),
      [
        ['network', 'vda', 'virtio', 1],
        ['block', 'sda', 'sata', undefined],
      ],
    );
    assert.deepEqual(d.disks[0]?.network, { protocol: 'nbd', name: 'rec-1' });
    assert.equal(d.disks[1]?.path, '/dev/vg0/data');
    assert.deepEqual(
      [...(d.tideline?.diskIds ?? [])],
      [
        ['vda', 'rec-1'],
        ['sda', 'rec-2'],
      ],
    );
    assert.deepEqual(d.tideline?.recoveredFrom, {
      vpgId: 'v1',
      failoverId: 'f1',
      mode: 'test',
      sourceVmId: 's1',
    });
    assert.equal(d.tideline?.guestOs, 'debian/12');
    assert.deepEqual(d.bootDevices, [], 'per-device boot order replaces <os><boot>');
  });

  it('reads and refuses NBD URIs, and builds the block copy target', () => {
    assert.deepEqual(parseNbdUri('nbd+unix:///a%20b?socket=/run/x%20y.sock'), {
      exportName: 'a b',
      socket: '/run/x y.sock',
    });
    assert.equal(parseNbdUri('/var/lib/x.raw'), undefined);
    assert.throws(() => parseNbdUri('nbd+unix:///disk'), /export and a socket/);
    const target = nbdCopyTargetXml('/s.sock', 'disk-1');
    assert.ok(!target.includes('<mirror'));
    assert.match(target, /protocol="nbd"/);
  });
});

describe('libvirt network and pool XML', () => {
  it('reads isolation and the subnet, and builds isolated and NAT networks', () => {
    const nat = parseNetworkXml(
      `<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>
       <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp/></ip></network>`,
      true,
    );
    assert.deepEqual([nat.isolated, nat.subnet, nat.bridge], [false, '192.168.122.0/24', 'virbr0']);
    const isolated = parseNetworkXml(buildNetworkXml({ name: 'dmz-test', isolated: true }), false);
    assert.deepEqual(
      [isolated.name, isolated.isolated, isolated.subnet],
      ['dmz-test', true, undefined],
    );
    const routed = parseNetworkXml(
      buildNetworkXml({ name: 'lan', isolated: false, subnet: '10.20.0.0/24' }),
      false,
    );
    assert.deepEqual([routed.isolated, routed.subnet], [false, '10.20.0.0/24']);
  });

  it('reads a pool’s capacity, free space and directory', () => {
    const pool = parsePoolXml(`<pool type='dir'><name>images</name>
      <capacity unit='bytes'>1000</capacity><allocation unit='bytes'>400</allocation>
      <available unit='bytes'>600</available><target><path>/var/lib/libvirt/images</path></target></pool>`);
    assert.deepEqual(pool, {
      name: 'images',
      type: 'dir',
      capacityBytes: 1000,
      freeBytes: 600,
      path: '/var/lib/libvirt/images',
    });
  });
});

describe('virsh commands, errors and events', () => {
  it('names the command and libvirt’s words, with a code to act on', () => {
    const err = libvirtError(
      ['dumpxml', 'web 01'],
      ["failed to get domain 'web 01'", "Domain not found: no domain with matching name 'web 01'"],
    );
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(
      err.message,
      "virsh dumpxml 'web 01' failed: failed to get domain 'web 01'; Domain not found: no domain with matching name 'web 01'",
    );
    assert.equal(
      libvirtError(['start', 'x'], ['Requested operation is not valid: domain is already running'])
        .code,
      'CONFLICT',
    );
    assert.equal(libvirtError(['x'], ['Failed to connect socket']).code, 'UNAVAILABLE');
    assert.equal(describeCommand(['define', "/tmp/it's.xml"]), `define '/tmp/it'"'"'s.xml'`);
  });

  it('parses event lines, names with quotes and colons included', () => {
    assert.deepEqual(
      parseEventLine(
        "2026-12-05 00:03:24.936+0000: event 'block-job-2' for domain 'tlx: it's': Block Copy for vda ready",
      ),
      { event: 'block-job-2', domain: "tlx: it's", detail: 'Block Copy for vda ready' },
    );
    assert.deepEqual(parseEventLine("event 'lifecycle' for domain 'a': Stopped Shutdown"), {
      event: 'lifecycle',
      domain: 'a',
      detail: 'Stopped Shutdown',
    });
    assert.equal(parseEventLine('events received: 3'), undefined);
  });
});
