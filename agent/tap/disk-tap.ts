import { TidelineError } from '../../app/errors';
import { DiskFile, type DiskAccess } from './disk-file';
import type { ProtectedWriteSink, Tap, WriteOptions } from './tap';

interface AttachedDisk {
  readonly file: DiskFile;
  /** The VPG pipeline of a protected disk; undefined while the disk is unprotected. */
  sink: ProtectedWriteSink | undefined;
  /** Holders (a VPG, NBD connections): the file closes when the last one detaches. */
  refs: number;
  /** Unprotected requests still writing to the file (protect() waits for them). */
  unprotectedInFlight: number;
  readonly whenIdle: (() => void)[];
}

/**
 * The in-process tap: a registry of open disk files, each either unprotected (requests go
 * straight to the file) or protected (requests go to its VPG's pipeline). The NBD server and
 * the sim workload both call this object. A disk can have several holders at once (its VPG and
 * the NBD connections of the VM using it): attach/detach count them.
 */
export class DiskTap implements Tap {
  private readonly disks = new Map<string, AttachedDisk>();
  /** Opens in progress, so that concurrent attaches of one disk share one descriptor. */
  private readonly opening = new Map<string, Promise<void>>();
  private readonly unsyncedBeforeProtect = new Set<DiskFile>();

  /**
   * Makes a disk reachable through the tap (opened on the first attach, unprotected) and
   * counts the caller as a holder; each attach is matched by one detach.
   */
  async attach(
    diskId: string,
    path: string,
    access: DiskAccess = { mode: 'owned' },
  ): Promise<DiskFile> {
    for (;;) {
      const disk = this.disks.get(diskId);
      if (disk !== undefined) {
        if (disk.file.path !== path || disk.file.mirrored !== (access.mode === 'mirror')) {
          throw new TidelineError(
            'CONFLICT',
            `Disk ${diskId} is attached to the tap from ${disk.file.path} (${disk.file.mirrored ? 'mirrored' : 'owned'}), not ${path} (${access.mode})`,
            { diskId },
          );
        }
        disk.refs += 1;
        return disk.file;
      }
      let opening = this.opening.get(diskId);
      if (opening === undefined) {
        opening = DiskFile.open(diskId, path, access)
          .then((file) => {
            this.disks.set(diskId, {
              file,
              sink: undefined,
              refs: 0,
              unprotectedInFlight: 0,
              whenIdle: [],
            });
          })
          .finally(() => this.opening.delete(diskId));
        this.opening.set(diskId, opening);
      }
      await opening;
    }
  }

  /**
   * Lets go of one attach; the last holder closes the disk. Requests in flight must have
   * settled (each holder stops its producers first).
   */
  async detach(diskId: string): Promise<void> {
    const disk = this.get(diskId);
    disk.refs -= 1;
    if (disk.refs > 0) return;
    this.disks.delete(diskId);
    this.unsyncedBeforeProtect.delete(disk.file);
    await disk.file.close();
  }

  disk(diskId: string): DiskFile {
    return this.get(diskId).file;
  }

  /** From now on requests to the disk go through its VPG's pipeline (sequencer, outbox). */
  protect(diskId: string, sink: ProtectedWriteSink): Promise<void> {
    const disk = this.get(diskId);
    // Writes made before protection are the sink's to know nothing of: the next flush syncs them.
    if (disk.file.dirty) this.unsyncedBeforeProtect.add(disk.file);
    disk.sink = sink;
    // Requests that started unprotected are not the sink's: an initial sync or resync must read
    // only after they reached the file, or it could miss them. Later ones go to the sink.
    if (disk.unprotectedInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => disk.whenIdle.push(resolve));
  }

  unprotect(diskId: string): void {
    this.get(diskId).sink = undefined;
  }

  isProtected(diskId: string): boolean {
    return this.get(diskId).sink !== undefined;
  }

  diskSize(diskId: string): number {
    return this.get(diskId).file.size;
  }

  async write(diskId: string, offset: number, data: Buffer, options?: WriteOptions): Promise<void> {
    const disk = this.get(diskId);
    disk.file.checkExtent(offset, data.length);
    if (disk.sink !== undefined) return disk.sink.write(disk.file, offset, data, options);
    await this.unprotected(disk, async () => {
      await disk.file.pwrite(data, offset);
      if (options?.fua === true) await disk.file.datasync();
    });
  }

  async zero(
    diskId: string,
    offset: number,
    length: number,
    options?: WriteOptions,
  ): Promise<void> {
    await this.zeroOrTrim(diskId, offset, length, 'zero', options);
  }

  async trim(diskId: string, offset: number, length: number): Promise<void> {
    await this.zeroOrTrim(diskId, offset, length, 'trim', undefined);
  }

  async read(diskId: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const disk = this.get(diskId);
    disk.file.checkExtent(offset, length);
    return disk.file.pread(offset, length, into);
  }

  async flush(): Promise<void> {
    const sinks = new Set<ProtectedWriteSink>();
    const syncs: Promise<void>[] = [];
    for (const disk of this.disks.values()) {
      if (disk.sink !== undefined) sinks.add(disk.sink);
      else syncs.push(disk.file.syncIfDirty());
    }
    for (const file of this.unsyncedBeforeProtect) syncs.push(file.datasync());
    this.unsyncedBeforeProtect.clear();
    for (const sink of sinks) syncs.push(sink.flush());
    await Promise.all(syncs);
  }

  /** Closes every disk (after the producers and pipelines have stopped). */
  async close(): Promise<void> {
    const files = [...this.disks.values()].map((d) => d.file);
    this.disks.clear();
    const results = await Promise.allSettled(files.map((f) => f.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private async zeroOrTrim(
    diskId: string,
    offset: number,
    length: number,
    kind: 'zero' | 'trim',
    options: WriteOptions | undefined,
  ): Promise<void> {
    const disk = this.get(diskId);
    disk.file.checkExtent(offset, length);
    if (disk.sink !== undefined) return disk.sink.zero(disk.file, offset, length, kind, options);
    await this.unprotected(disk, async () => {
      await disk.file.writeZeroes(offset, length);
      if (options?.fua === true) await disk.file.datasync();
    });
  }

  private async unprotected(disk: AttachedDisk, run: () => Promise<void>): Promise<void> {
    disk.unprotectedInFlight += 1;
    try {
      await run();
    } finally {
      disk.unprotectedInFlight -= 1;
      if (disk.unprotectedInFlight === 0) for (const wake of disk.whenIdle.splice(0)) wake();
    }
  }

  private get(diskId: string): AttachedDisk {
    const disk = this.disks.get(diskId);
    if (disk === undefined) {
      throw new TidelineError('NOT_FOUND', `Disk ${diskId} is not attached to the tap`, { diskId });
    }
    return disk;
  }
}
