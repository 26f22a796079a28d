import { TidelineError } from '../../app/errors';
import { DiskFile } from './disk-file';
import type { ProtectedWriteSink, Tap, WriteOptions } from './tap';

interface AttachedDisk {
  readonly file: DiskFile;
  /** The VPG pipeline of a protected disk; undefined while the disk is unprotected. */
  sink: ProtectedWriteSink | undefined;
}

/**
 * The in-process tap: a registry of open disk files, each either unprotected (requests go
 * straight to the file) or protected (requests go to its VPG's pipeline). The NBD server and
 * the sim workload both call this object.
 */
export class DiskTap implements Tap {
  private readonly disks = new Map<string, AttachedDisk>();
  private readonly unsyncedBeforeProtect = new Set<DiskFile>();

  /** Opens a disk file and makes it reachable through the tap, unprotected. */
  async attach(diskId: string, path: string): Promise<DiskFile> {
    if (this.disks.has(diskId)) {
      throw new TidelineError('ALREADY_EXISTS', `Disk ${diskId} is already attached to the tap`, {
        diskId,
      });
    }
    const file = await DiskFile.open(diskId, path);
    // A concurrent attach of the same id may have won while the file was opening.
    if (this.disks.has(diskId)) {
      await file.close();
      throw new TidelineError('ALREADY_EXISTS', `Disk ${diskId} is already attached to the tap`, {
        diskId,
      });
    }
    this.disks.set(diskId, { file, sink: undefined });
    return file;
  }

  /** Closes a disk. Requests in flight must have settled (the caller stops its producers first). */
  async detach(diskId: string): Promise<void> {
    const disk = this.get(diskId);
    this.disks.delete(diskId);
    this.unsyncedBeforeProtect.delete(disk.file);
    await disk.file.close();
  }

  disk(diskId: string): DiskFile {
    return this.get(diskId).file;
  }

  /** From now on requests to the disk go through its VPG's pipeline (sequencer, outbox). */
  protect(diskId: string, sink: ProtectedWriteSink): void {
    const disk = this.get(diskId);
    // Writes made before protection are the sink's to know nothing of: the next flush syncs them.
    if (disk.file.dirty) this.unsyncedBeforeProtect.add(disk.file);
    disk.sink = sink;
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
    await disk.file.pwrite(data, offset);
    if (options?.fua === true) await disk.file.datasync();
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

  async read(diskId: string, offset: number, length: number): Promise<Buffer> {
    const disk = this.get(diskId);
    disk.file.checkExtent(offset, length);
    return disk.file.pread(offset, length);
  }

  async flush(): Promise<void> {
    const sinks = new Set<ProtectedWriteSink>();
    const syncs: Promise<void>[] = [];
    for (const disk of this.disks.values()) {
      if (disk.sink !== undefined) sinks.add(disk.sink);
      else if (disk.file.dirty) syncs.push(disk.file.datasync());
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
    await disk.file.writeZeroes(offset, length);
    if (options?.fua === true) await disk.file.datasync();
  }

  private get(diskId: string): AttachedDisk {
    const disk = this.disks.get(diskId);
    if (disk === undefined) {
      throw new TidelineError('NOT_FOUND', `Disk ${diskId} is not attached to the tap`, { diskId });
    }
    return disk;
  }
}
