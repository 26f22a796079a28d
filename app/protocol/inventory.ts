import { z } from 'zod';
import { IdSchema } from './common';

const Text = (max: number) => z.string().trim().max(max);

export const SiteDetailsSchema = z.object({
  siteId: IdSchema,
  name: Text(80).min(1),
  location: Text(200),
  contact: Text(200),
});
export type SiteDetails = z.infer<typeof SiteDetailsSchema>;

export const SiteDetailsPatchSchema = z
  .strictObject({
    name: Text(80).min(1, 'must not be empty').optional(),
    location: Text(200).optional(),
    contact: Text(200).optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), {
    message: 'give at least one of name, location, contact',
  });
export type SiteDetailsPatch = z.infer<typeof SiteDetailsPatchSchema>;

export const HypervisorKindSchema = z.enum(['sim', 'libvirt']);
export type HypervisorKind = z.infer<typeof HypervisorKindSchema>;

/** Whether a host runs a Tideline agent (deploying over SSH moves it through these). */
export const AgentStateSchema = z.enum([
  'installed',
  'installing',
  'uninstalling',
  'not-installed',
]);

export const DatastoreSchema = z.object({
  name: IdSchema,
  capacityBytes: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative(),
});
export type Datastore = z.infer<typeof DatastoreSchema>;

export const HostSchema = z.object({
  hostId: IdSchema,
  name: Text(253).min(1),
  hypervisor: HypervisorKindSchema,
  hypervisorVersion: Text(80),
  agentState: AgentStateSchema,
  /** The agent's version, as the agent on the host reports it. */
  agentVersion: Text(40).optional(),
  cpuCores: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  datastores: z.array(DatastoreSchema),
});
export type Host = z.infer<typeof HostSchema>;

export const PowerStateSchema = z.enum(['running', 'stopped', 'suspended']);
export type PowerState = z.infer<typeof PowerStateSchema>;

/** A device's place in the boot order (libvirt `<boot order='N'/>`), when set per device. */
const BootOrderSchema = z.number().int().positive().max(999);

export const NicSchema = z.object({
  name: Text(64).min(1),
  mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
  network: Text(128).min(1),
  ipAddress: Text(64).optional(),
  /** The emulated NIC (virtio, e1000…), kept so a recovered VM's guest finds its driver. */
  model: Text(32).optional(),
  bootOrder: BootOrderSchema.optional(),
});
export type Nic = z.infer<typeof NicSchema>;

export const DiskSchema = z.object({
  diskId: IdSchema,
  name: Text(128).min(1),
  sizeBytes: z.number().int().positive(),
  datastore: IdSchema,
  /** Where the hypervisor serves the disk from (a file path for sim and raw images). */
  location: Text(4096),
  /**
   * The image format the hypervisor declares for the file (libvirt's driver type; the sim's
   * disks are raw). Absent: unknown, the agent probes the file once.
   */
  format: Text(32).optional(),
  /**
   * Where a VM attaches the disk through the agent's NBD server, so every write is tapped:
   * `nbd+unix:///<diskId>?socket=<path>`. Absent when the disk cannot be served (see
   * exportError).
   */
  exportUri: Text(4096).optional(),
  /** Why the disk is not exported (e.g. its backing file is not raw). */
  exportError: Text(1000).optional(),
  /** The guest's device name and bus (libvirt: vda on virtio), kept for the recovered VM. */
  target: Text(32).optional(),
  bus: Text(16).optional(),
  bootOrder: BootOrderSchema.optional(),
});
export type Disk = z.infer<typeof DiskSchema>;

/**
 * The virtual hardware a recovered VM needs to boot as it did (captured from libvirt's domain
 * XML; the sim has none): per-disk bus and per-NIC model live on the disks and NICs.
 */
export const VmHardwareSchema = z.object({
  /** libvirt's domain type: kvm, or qemu (emulation). */
  domainType: Text(16).optional(),
  arch: Text(32).optional(),
  /** The machine type, e.g. pc-q35-7.2 (a host without it gets the same family's alias). */
  machine: Text(64).optional(),
  firmware: z.enum(['bios', 'efi']).optional(),
  /** Boot devices in order (hd, cdrom, network) when no device has a boot order of its own. */
  bootDevices: z.array(Text(16)).max(8).optional(),
});
export type VmHardware = z.infer<typeof VmHardwareSchema>;

export const VmSchema = z.object({
  vmId: IdSchema,
  name: Text(128).min(1),
  hostId: IdSchema,
  powerState: PowerStateSchema,
  cpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  guestOs: Text(128),
  nics: z.array(NicSchema),
  disks: z.array(DiskSchema),
  hardware: VmHardwareSchema.optional(),
  /** Why the VM cannot be protected (e.g. a qcow2 disk); absent when it can. */
  cannotProtect: Text(1000).optional(),
  /** Set on VMs a failover registered: which VPG, which failover and mode, from which VM. */
  recoveredFrom: z
    .object({
      vpgId: IdSchema,
      failoverId: IdSchema,
      mode: z.enum(['live', 'test', 'move']),
      sourceVmId: IdSchema,
    })
    .optional(),
});
export type Vm = z.infer<typeof VmSchema>;

/** What changed; 'vpg': a VPG's settings or VMs (an edit, or a forced change landing). */
export const InventoryKindSchema = z.enum(['site', 'host', 'vm', 'peer', 'network', 'vpg']);
export type InventoryKind = z.infer<typeof InventoryKindSchema>;
