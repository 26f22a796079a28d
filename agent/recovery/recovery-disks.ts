import { TidelineError } from '../../app/errors';
import type { Journal } from '../journal/journal';
import type { JournalLog } from '../journal/options';
import { exportUri } from '../nbd/exports';
import type {
  ExportDescription,
  ExportEntry,
  ExportRefusal,
  ExportSource,
  OpenExport,
} from '../nbd/exports';
import { isSafeFailoverId } from './recovery-set-file';
import { LayeredDiskSet } from './recovery-disk-set';
import type {
  RecoveryDisk,
  RecoveryDiskOpenParams,
  RecoveryDiskSet,
  RecoveryDisks,
} from './recovery-types';

export interface RecoveryDiskServiceOptions {
  readonly dataDir: string;
  /** The open journal of a VPG this agent is the recovery site of. */
  readonly journalOf: (vpgId: string) => Journal | undefined;
  /** The NBD server's unix socket (undefined: no NBD server, no export URIs). */
  readonly nbdSocketPath: string | undefined;
  readonly log: JournalLog;
}

/**
 * The agent's recovered disks (RecoveryDisks): open sets by failover id, and their disks by
 * disk id for the NBD server (`exports`, an ExportSource the server composes with the
 * inventory's). A disk is served from its set's open until close or discard.
 */
export class RecoveryDiskService implements RecoveryDisks {
  private readonly sets = new Map<string, LayeredDiskSet>();
  private readonly opening = new Map<string, Promise<LayeredDiskSet>>();
  private readonly disks = new Map<string, { set: LayeredDiskSet; disk: RecoveryDisk }>();
  readonly exports: ExportSource;

  constructor(private readonly options: RecoveryDiskServiceOptions) {
    this.exports = new RecoveryExports(this.disks);
  }

  /** Opens (or, after a restart, reopens with its overlays) the disks of a failover. */
  async open(params: RecoveryDiskOpenParams): Promise<RecoveryDiskSet> {
    if (!isSafeFailoverId(params.failoverId)) {
      throw new TidelineError('INVALID_PARAMS', `Bad failover id "${params.failoverId}"`);
    }
    const open = this.sets.get(params.failoverId);
    if (open !== undefined) {
      if (open.vpgId !== params.vpgId || open.checkpointSeq !== params.checkpointSeq) {
        throw new TidelineError(
          'CONFLICT',
          `Failover ${params.failoverId} already has recovered disks of VPG ${open.vpgId} at checkpoint ${open.checkpointSeq}`,
        );
      }
      return open;
    }
    const pending = this.opening.get(params.failoverId);
    if (pending !== undefined) return pending;
    for (const d of params.disks) {
      const holder = this.disks.get(d.diskId);
      if (holder !== undefined) {
        throw new TidelineError(
          'CONFLICT',
          `Disk id ${d.diskId} is already a recovered disk of failover ${holder.set.failoverId}`,
        );
      }
    }
    const opening = LayeredDiskSet.open(
      {
        dataDir: this.options.dataDir,
        journalOf: this.options.journalOf,
        log: this.options.log,
        register: (set) => {
          this.sets.set(set.failoverId, set);
          for (const disk of set.disks) this.disks.set(disk.diskId, { set, disk });
        },
        unregister: (set) => {
          if (this.sets.get(set.failoverId) === set) this.sets.delete(set.failoverId);
          for (const disk of set.disks) {
            if (this.disks.get(disk.diskId)?.set === set) this.disks.delete(disk.diskId);
          }
        },
      },
      params,
    );
    this.opening.set(params.failoverId, opening);
    try {
      return await opening;
    } finally {
      this.opening.delete(params.failoverId);
    }
  }

  exportUri(diskId: string): string | undefined {
    const socket = this.options.nbdSocketPath;
    if (socket === undefined || !this.disks.has(diskId)) return undefined;
    return exportUri(diskId, socket);
  }

  /** The open set of a failover, if any. */
  get(failoverId: string): RecoveryDiskSet | undefined {
    return this.sets.get(failoverId);
  }

  /** Agent stop: every set is closed (overlays and pins kept for the reopen). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    const results = await Promise.allSettled([...this.sets.values()].map((s) => s.close()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

/** The open recovered disks as NBD exports, named by their disk id. */
class RecoveryExports implements ExportSource {
  constructor(
    private readonly disks: ReadonlyMap<string, { set: RecoveryDiskSet; disk: RecoveryDisk }>,
  ) {}

  list(): Promise<ExportEntry[]> {
    return Promise.resolve(
      [...this.disks].map(([name, found]) => ({ name, description: description(found) })),
    );
  }

  private find(name: string): { set: RecoveryDiskSet; disk: RecoveryDisk } | undefined {
    return this.disks.get(name);
  }

  describe(name: string): Promise<ExportDescription | ExportRefusal> {
    const found = this.find(name);
    if (found === undefined) return Promise.resolve(unknown(name));
    return Promise.resolve({ name, description: description(found), size: found.disk.size });
  }

  open(name: string): Promise<OpenExport | ExportRefusal> {
    const found = this.find(name);
    if (found === undefined) return Promise.resolve(unknown(name));
    const { disk } = found;
    return Promise.resolve({
      name,
      description: description(found),
      size: disk.size,
      backend: disk,
      // The disk outlives connections: it is closed with its set.
      release: () => Promise.resolve(),
    });
  }
}

function description({ set, disk }: { set: RecoveryDiskSet; disk: RecoveryDisk }): string {
  return `recovered ${disk.sourceDiskId} of VPG ${set.vpgId} (failover ${set.failoverId})`;
}

function unknown(name: string): ExportRefusal {
  return { refused: 'unknown', message: `No recovered disk "${name}" on this agent` };
}
