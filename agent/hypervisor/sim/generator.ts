import { z } from 'zod';
import {
  HostSchema,
  NetworkSchema,
  VmSchema,
  type Host,
  type Network,
  type Nic,
  type Vm,
} from '../../../app/protocol';
import { NETWORK_OCTETS, SIM_ROLES, type SimRole } from './catalog';
import { Prng, stableHex } from './prng';

const GiB = 1024 ** 3;
const TiB = 1024 ** 4;
const DATASTORE_CAPACITY = 2 * TiB;

/** A power operation the sim carried out (kept so tests can check boot order and delays). */
export const SimPowerEventSchema = z.object({
  vmId: z.string(),
  state: z.enum(['running', 'stopped']),
  /** Epoch ms. */
  at: z.number().int(),
});
export type SimPowerEvent = z.infer<typeof SimPowerEventSchema>;

/** The newest power events kept in the inventory file. */
export const SIM_POWER_LOG_LIMIT = 500;

/**
 * The sim hypervisor's whole state: hosts, VMs and networks as the protocol shows them, except
 * that a file disk's `location` is relative to the data directory (the directory may move).
 * Files written before the sim had networks have none: `withNetworks` derives them.
 */
export const SimInventorySchema = z.strictObject({
  version: z.literal(1),
  site: z.string(),
  hosts: z.array(HostSchema),
  vms: z.array(VmSchema),
  networks: z.array(NetworkSchema).optional(),
  powerLog: z.array(SimPowerEventSchema).optional(),
});
export type SimInventoryFile = z.infer<typeof SimInventorySchema>;
export type SimInventory = SimInventoryFile & {
  readonly networks: Network[];
  readonly powerLog: SimPowerEvent[];
};

/** An inventory with its networks: those of its VMs' NICs when the file has no list. */
export function withNetworks(file: SimInventoryFile): SimInventory {
  return {
    ...file,
    networks: file.networks ?? networksOf(file.vms),
    powerLog: file.powerLog ?? [],
  };
}

/** One network per name the VMs' NICs use, its /24 from the first NIC address seen on it. */
export function networksOf(vms: readonly Vm[]): Network[] {
  const found = new Map<string, Network>();
  for (const vm of vms) {
    for (const nic of vm.nics) {
      if (found.has(nic.network)) continue;
      const octets = /^(\d+)\.(\d+)\.(\d+)\.\d+$/.exec(nic.ipAddress ?? '');
      found.set(nic.network, {
        name: nic.network,
        isolated: false,
        ...(octets !== null && { subnet: `${octets[1]}.${octets[2]}.${octets[3]}.0/24` }),
      });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The most VMs `init --sim-vms` makes on a sim host (addresses stay within one /24). */
export const MAX_SIM_VMS = 64;

export interface SimGeneratorOptions {
  /** Seeds names, sizes and shapes: two sites with different names get different estates. */
  readonly siteName: string;
  /** Mixed into ids and MAC addresses, so two agents of same-named sites don't collide. */
  readonly idSalt?: string;
  readonly hostCount?: number;
  /** [min, max] VMs per host. */
  readonly vmsPerHost?: readonly [number, number];
  /**
   * Every disk gets this size instead of its role's 1–8 GiB (tests and demos that copy or
   * hash whole disks: `tideline-agent init --sim-disk-mib N`).
   */
  readonly diskBytes?: number;
}

/** Where a sim disk lives, relative to the data directory. */
export function simDiskLocation(datastore: string, vmName: string, diskName: string): string {
  return `datastores/${datastore}/${vmName}/${diskName}.raw`;
}

/**
 * A deterministic, schema-valid inventory for a site: a pure function of its options. Each
 * host gets a handful of VMs (one of them stopped), with NICs on named networks and 1–8 GiB
 * disks on the host's datastore.
 */
export function generateSimInventory(options: SimGeneratorOptions): SimInventory {
  const site = options.siteName;
  const salt = options.idSalt ?? '';
  const rng = new Prng(`tideline-sim/${site}`);
  const slug = siteSlug(site);
  const siteOctet = 1 + (parseInt(stableHex('site-octet', site).slice(0, 4), 16) % 200);
  const [minVms, maxVms] = options.vmsPerHost ?? [4, 6];
  const roles = rng.shuffle(SIM_ROLES);
  const used = new Map<string, number>();
  const hosts: Host[] = [];
  const vms: Vm[] = [];

  for (let h = 0; h < (options.hostCount ?? 1); h += 1) {
    const hostName = `${slug}-hv${pad2(h + 1)}`;
    const hostId = `host-${stableHex(salt, site, hostName).slice(0, 12)}`;
    const datastore = `datastore${h + 1}`;
    const count = rng.int(minVms, maxVms);
    const stopped = rng.int(0, count - 1);
    let provisioned = 0;
    for (let i = 0; i < count; i += 1) {
      const role = roles[(vms.length + i) % roles.length] as SimRole;
      const n = (used.get(role.role) ?? 0) + 1;
      used.set(role.role, n);
      const vm = makeVm(rng, {
        role,
        name: `${role.role}-${pad2(n)}`,
        hostId,
        datastore,
        salt,
        site,
        running: i !== stopped,
        ipHost: 10 + vms.length + i,
        siteOctet,
        diskBytes: options.diskBytes,
      });
      provisioned += vm.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
      vms.push(vm);
    }
    hosts.push({
      hostId,
      name: hostName,
      hypervisor: 'sim',
      hypervisorVersion: 'tideline-sim 1.0',
      agentState: 'installed',
      cpuCores: rng.pick([16, 24, 32, 48]),
      memoryMiB: rng.pick([131072, 196608, 262144]),
      datastores: [
        {
          name: datastore,
          capacityBytes: DATASTORE_CAPACITY,
          freeBytes: DATASTORE_CAPACITY - provisioned,
        },
      ],
    });
  }
  return { version: 1, site, hosts, vms, networks: networksOf(vms), powerLog: [] };
}

interface VmSpec {
  readonly role: SimRole;
  readonly name: string;
  readonly hostId: string;
  readonly datastore: string;
  readonly salt: string;
  readonly site: string;
  readonly running: boolean;
  readonly ipHost: number;
  readonly siteOctet: number;
  readonly diskBytes: number | undefined;
}

function makeVm(rng: Prng, spec: VmSpec): Vm {
  const { role, name, salt, site } = spec;
  const nics: Nic[] = role.networks.map((network, i) => ({
    name: `eth${i}`,
    mac: macAddress(salt, site, name, i),
    network,
    ipAddress: `10.${spec.siteOctet}.${NETWORK_OCTETS[network] ?? 50}.${spec.ipHost}`,
  }));
  const disks = role.disksGiB.map(([min, max], i) => {
    const diskName = `${name}-disk${i}`;
    // Drawn even when a fixed size is asked for, so the rest of the estate stays the same.
    const drawn = rng.int(min, max) * GiB;
    return {
      diskId: `disk-${stableHex(salt, site, diskName).slice(0, 12)}`,
      name: diskName,
      sizeBytes: spec.diskBytes ?? drawn,
      datastore: spec.datastore,
      location: simDiskLocation(spec.datastore, name, diskName),
      format: 'raw',
    };
  });
  return {
    vmId: `vm-${stableHex(salt, site, name).slice(0, 12)}`,
    name,
    hostId: spec.hostId,
    powerState: spec.running ? 'running' : 'stopped',
    cpus: rng.pick(role.cpus),
    memoryMiB: rng.pick(role.memoryMiB),
    guestOs: rng.pick(role.guestOs),
    nics,
    disks,
  };
}

/** A locally administered unicast MAC in QEMU's 52:54:00 range. */
function macAddress(salt: string, site: string, vm: string, nic: number): string {
  const hex = stableHex('mac', salt, site, vm, String(nic));
  return `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

export function siteSlug(site: string): string {
  const slug = site
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug === '' ? 'site' : slug;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
