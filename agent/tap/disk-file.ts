import { open, type FileHandle } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import { errnoMessage } from '../store/json-file';
import { DirectWriter, directWritable } from '../util/direct-io';
import { writeSmallSync } from '../util/sync-write';

/** Zeros for write-zeroes; shared and never written to. */
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Who writes a disk's file. `owned`: the tap does (the sim's workloads, a VM whose disk is the
 * agent's NBD export). `mirror`: the hypervisor writes the file itself and mirrors every write
 * into the tap (libvirt's active block copy, agent/hypervisor/libvirt/README.md): the tap reads
 * the file, never writes or syncs it, and takes the disk's size from the hypervisor (a block
 * device's stat() says 0).
 */
export type DiskAccess =
  { readonly mode: 'owned' } | { readonly mode: 'mirror'; readonly sizeBytes: number };

/**
 * One disk image file (raw, usually sparse), opened once and kept open: every request is a
 * positioned read or write on the same descriptor, never an open per request.
 */
export class DiskFile {
  /** Writes landed since the last datasync() started (flush() skips clean disks). */
  private unsynced = false;
  /** The datasync in progress: a flush that finds the disk clean still waits for it. */
  private syncing: Promise<void> | undefined;
  /** Large aligned writes around the page cache. */
  private readonly direct: DirectWriter;

  private constructor(
    readonly diskId: string,
    readonly path: string,
    private readonly handle: FileHandle,
    /** Fixed for the life of the handle: a disk does not grow under a running VM. */
    readonly size: number,
    /** The hypervisor writes the file (DiskAccess 'mirror'): writes and syncs here are no-ops. */
    readonly mirrored: boolean,
    private readonly blockDevice: boolean,
  ) {
    this.direct = new DirectWriter(path);
  }

  static async open(
    diskId: string,
    path: string,
    access: DiskAccess = { mode: 'owned' },
  ): Promise<DiskFile> {
    const mirrored = access.mode === 'mirror';
    let handle: FileHandle;
    try {
      handle = await open(path, mirrored ? 'r' : 'r+');
    } catch (err) {
      throw new TidelineError(
        'NOT_FOUND',
        `Cannot open disk ${diskId} at ${path}: ${errnoMessage(err)}`,
        { diskId },
      );
    }
    try {
      const stat = await handle.stat();
      const size = access.mode === 'mirror' ? access.sizeBytes : stat.size;
      return new DiskFile(diskId, path, handle, size, mirrored, stat.isBlockDevice());
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get dirty(): boolean {
    return this.unsynced;
  }

  /** Throws INVALID_PARAMS unless [offset, offset + length) lies within the disk. */
  checkExtent(offset: number, length: number): void {
    checkDiskExtent(this.diskId, this.size, offset, length);
  }

  async pwrite(data: Buffer, offset: number): Promise<void> {
    // The hypervisor wrote these bytes into its file before mirroring them here.
    if (this.mirrored) return;
    this.unsynced = true;
    if (writeSmallSync(this.handle.fd, data, offset)) return; // small and whole pages
    // As QEMU's cache=none: the page-cache copy of a large write costs more CPU than the rest
    // of its protection (util/direct-io.ts); the guest keeps its own cache. Tested here first,
    // in this tick: any other write reaches the thread pool before requests parsed after it.
    if (directWritable(data, offset) && (await this.direct.write(data, offset))) {
      this.unsynced = true;
      return;
    }
    // The rest (larger or unaligned) on the thread pool.
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await this.handle.write(
        data,
        done,
        data.length - done,
        offset + done,
      );
      done += bytesWritten;
    }
    // Again at the end: a datasync that started while this write ran may not cover it.
    this.unsynced = true;
  }

  /** Writes zeros over the extent (the source's meaning of both zero and trim). */
  async writeZeroes(offset: number, length: number): Promise<void> {
    if (this.mirrored) return;
    let done = 0;
    while (done < length) {
      const n = Math.min(ZEROS.length, length - done);
      await this.pwrite(ZEROS.subarray(0, n), offset + done);
      done += n;
    }
  }

  /** Reads the extent; bytes past the end of the file (never written) read as zeros. */
  async pread(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) {
        out.fill(0, done, length);
        break;
      }
      done += bytesRead;
    }
    return out;
  }

  async datasync(): Promise<void> {
    // The guest's flushes go to the hypervisor's own file, not through the mirror.
    if (this.mirrored) return;
    this.unsynced = false;
    const sync = this.handle.datasync();
    this.syncing = sync;
    try {
      await sync;
    } finally {
      if (this.syncing === sync) this.syncing = undefined;
    }
  }

  /**
   * Every write completed before this call is on stable storage when it resolves: a new
   * datasync if any landed since the last one started, else the one still running (if any).
   */
  async syncIfDirty(): Promise<void> {
    if (this.unsynced) return this.datasync();
    await this.syncing;
  }

  /** Allocated bytes on the filesystem (0 for a never-written sparse file). */
  async allocatedBytes(): Promise<number> {
    // A block device has no holes to tell: all of it may hold data.
    if (this.blockDevice) return this.size;
    const stat = await this.handle.stat();
    return stat.blocks * 512;
  }

  async close(): Promise<void> {
    await this.direct.close();
    await this.handle.close();
  }
}

/** Throws INVALID_PARAMS unless [offset, offset + length) lies within a disk of `size` bytes. */
export function checkDiskExtent(
  diskId: string,
  size: number,
  offset: number,
  length: number,
): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Extent ${offset}+${length} is outside disk ${diskId} (${size} bytes)`,
      { diskId, offset, length },
    );
  }
}
