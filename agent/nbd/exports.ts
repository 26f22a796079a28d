import { stat } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import type { Disk, Vm } from '../../app/protocol';
import { errnoMessage } from '../store/json-file';
import type { DiskTap } from '../tap/disk-tap';
import type { WriteOptions } from '../tap/tap';
import { probeImageFormat } from './disk-format';

/** What NBD_OPT_LIST shows of an export. */
export interface ExportEntry {
  readonly name: string;
  readonly description: string;
}

/** An export NBD_OPT_INFO describes (nothing is held). */
export interface ExportDescription extends ExportEntry {
  readonly size: number;
}

/** Why an export cannot be served: unknown name, or a disk the agent refuses (policy). */
export interface ExportRefusal {
  readonly refused: 'unknown' | 'policy';
  readonly message: string;
}

/** The requests of one export, as the transmission loop issues them. */
export interface ExportBackend {
  read(offset: number, length: number, into: Buffer): Promise<unknown>;
  /** `data` is lent until the promise resolves (then reused for another request). */
  write(offset: number, data: Buffer, options: WriteOptions | undefined): Promise<void>;
  zero(offset: number, length: number, options: WriteOptions | undefined): Promise<void>;
  trim(offset: number, length: number): Promise<void>;
  /** Every write acknowledged before the call (on any connection) is on stable storage. */
  flush(): Promise<void>;
}

/** An export a connection holds (NBD_OPT_GO / EXPORT_NAME) until it calls release(). */
export interface OpenExport extends ExportDescription {
  readonly backend: ExportBackend;
  release(): Promise<void>;
}

/** What the handshake asks of the exports: the NBD server's only view of the inventory. */
export interface ExportSource {
  list(): Promise<ExportEntry[]>;
  describe(name: string): Promise<ExportDescription | ExportRefusal>;
  open(name: string): Promise<OpenExport | ExportRefusal>;
}

export function isRefusal(value: object): value is ExportRefusal {
  return 'refused' in value;
}

interface Found {
  readonly vm: Vm;
  readonly disk: Disk;
}

export interface DiskExportsOptions {
  /** The hypervisor's inventory (listVms): one export per disk, named by disk id. */
  readonly listVms: () => Promise<Vm[]>;
  readonly tap: DiskTap;
  /** The hypervisor writes the disks and mirrors its writes into the exports (libvirt). */
  readonly mirrored?: boolean;
}

/**
 * The exports: every disk of the agent's inventory, named by its disk id, served through the
 * tap (so a protected disk's writes are sequenced and replicated; others go straight to the
 * file). Only raw files are served: a disk declared (or, undeclared, first found) to be an
 * image format (qcow2, vmdk, …) is refused with a message, since serving its bytes would hand
 * the VM the container instead of the disk.
 */
export class DiskExports implements ExportSource {
  /** Format verdicts of probed disks without a declared format (undefined: raw). */
  private readonly probed = new Map<string, string | undefined>();

  constructor(private readonly options: DiskExportsOptions) {}

  async list(): Promise<ExportEntry[]> {
    const vms = await this.options.listVms();
    return vms.flatMap((vm) =>
      vm.disks.map((disk) => ({ name: disk.diskId, description: describe(vm, disk) })),
    );
  }

  async describe(name: string): Promise<ExportDescription | ExportRefusal> {
    const found = await this.find(name);
    if (isRefusal(found)) return found;
    const refusal = await this.check(found);
    if (refusal !== undefined) return refusal;
    const { disk, vm } = found;
    if (this.options.mirrored === true)
      return { name, description: describe(vm, disk), size: disk.sizeBytes };
    try {
      const { size } = await stat(disk.location);
      return { name, description: describe(vm, disk), size };
    } catch (err) {
      return { refused: 'unknown', message: cannotOpen(found, err) };
    }
  }

  async open(name: string): Promise<OpenExport | ExportRefusal> {
    const found = await this.find(name);
    if (isRefusal(found)) return found;
    const refusal = await this.check(found);
    if (refusal !== undefined) return refusal;
    const { tap } = this.options;
    const { disk, vm } = found;
    let file;
    try {
      file = await tap.attach(
        disk.diskId,
        disk.location,
        this.options.mirrored === true ? { mode: 'mirror', sizeBytes: disk.sizeBytes } : undefined,
      );
    } catch (err) {
      return { refused: 'unknown', message: cannotOpen(found, err) };
    }
    const diskId = disk.diskId;
    let released = false;
    return {
      name,
      description: describe(vm, disk),
      size: file.size,
      backend: {
        read: (offset, length, into) => tap.read(diskId, offset, length, into),
        write: (offset, data, options) => tap.write(diskId, offset, data, options),
        zero: (offset, length, options) => tap.zero(diskId, offset, length, options),
        trim: (offset, length) => tap.trim(diskId, offset, length),
        flush: () => tap.flush(),
      },
      release: async () => {
        if (released) return;
        released = true;
        await tap.detach(diskId);
      },
    };
  }

  /** vm.list's view: each disk with its export URI, or why it is not served. */
  async annotate(vms: Vm[], socketPath: string): Promise<Vm[]> {
    return Promise.all(
      vms.map(async (vm) => ({
        ...vm,
        disks: await Promise.all(
          vm.disks.map(async (disk) => {
            const refusal = await this.check({ vm, disk });
            return refusal === undefined
              ? { ...disk, exportUri: exportUri(disk.diskId, socketPath) }
              : { ...disk, exportError: refusal.message };
          }),
        ),
      })),
    );
  }

  /** Flushes whatever the exports' clients wrote (unprotected disks are synced too). */
  flush(): Promise<void> {
    return this.options.tap.flush();
  }

  private async find(name: string): Promise<Found | ExportRefusal> {
    if (name === '') {
      return {
        refused: 'unknown',
        message: 'This server has no default export: give a disk id as the export name',
      };
    }
    for (const vm of await this.options.listVms()) {
      const disk = vm.disks.find((d) => d.diskId === name);
      if (disk !== undefined) return { vm, disk };
    }
    return {
      refused: 'unknown',
      message: `No disk "${name}" on this agent: the export name is a disk id (see vm.list, or nbdinfo --list)`,
    };
  }

  /**
   * Undefined when the disk can be served as raw. The hypervisor's declared format decides;
   * without one the file is probed once and the verdict kept: the first sectors belong to the
   * guest, which may well write an image header or a LUKS signature into its own raw disk and
   * must not lock itself out at its next attach.
   */
  private async check(found: Found): Promise<ExportRefusal | undefined> {
    const { disk } = found;
    let format: string | undefined;
    if (disk.format !== undefined) {
      format = disk.format === 'raw' ? undefined : disk.format;
    } else {
      const key = `${disk.diskId}\0${disk.location}`;
      if (this.probed.has(key)) {
        format = this.probed.get(key);
      } else {
        try {
          format = await probeImageFormat(disk.location);
        } catch (err) {
          return { refused: 'unknown', message: cannotOpen(found, err) };
        }
        this.probed.set(key, format);
      }
    }
    if (format === undefined) return undefined;
    return {
      refused: 'policy',
      message:
        `Disk ${found.disk.diskId} of VM ${found.vm.name} is a ${format} image (${found.disk.location}); ` +
        'the agent serves raw disk files only: convert it (qemu-img convert -O raw) and point the inventory at the raw file',
    };
  }
}

/** `nbd+unix:///<diskId>?socket=<path>` (the export name and path percent-encoded as needed). */
export function exportUri(diskId: string, socketPath: string): string {
  return `nbd+unix:///${encodeURIComponent(diskId)}?socket=${encodeURI(socketPath).replace(/[?#&]/g, encodeURIComponent)}`;
}

function describe(vm: Vm, disk: Disk): string {
  return `${vm.name} / ${disk.name}`;
}

function cannotOpen({ vm, disk }: Found, err: unknown): string {
  if (err instanceof TidelineError) return err.message;
  return `Cannot open disk ${disk.diskId} of VM ${vm.name} at ${disk.location}: ${errnoMessage(err)}`;
}
