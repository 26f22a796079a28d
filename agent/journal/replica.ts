import { execFile } from 'node:child_process';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { fsyncDirectory } from '../store/atomic-file';
import { isErrno } from '../store/json-file';
import { formatBytes } from '../util/bytes';
import { DirectWriter, directWritable } from '../util/direct-io';
import { JournalConfigError } from './errors';
import { readZeroFilled, writeAll } from './segment-file';
import type { SmallWriteTarget } from './small-writes';

const run = promisify(execFile);

/** Extents at least this large are zeroed by punching a hole instead of writing zeros. */
const PUNCH_MIN_BYTES = 4 * 1024 * 1024;
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

export interface ReplicaDiskSpec {
  readonly diskId: string;
  readonly sizeBytes: number;
  readonly replicaPath: string;
}

/**
 * One replica disk: a sparse raw file of the disk's size, holding the disk as of the journal's
 * appliedSeq. Writes go straight to the file; `sync` makes them durable before appliedSeq moves.
 */
export class ReplicaDisk {
  private handle: FileHandle | undefined;
  /** Node has no fallocate(); the first failure of the util-linux tool turns punching off. */
  private canPunch = true;
  /** Large aligned writes around the page cache (the replica is read rarely: failovers). */
  private readonly direct: DirectWriter;
  private smallTarget: SmallWriteTarget | undefined;

  constructor(readonly spec: ReplicaDiskSpec) {
    this.direct = new DirectWriter(spec.replicaPath);
  }

  get diskId(): string {
    return this.spec.diskId;
  }

  get sizeBytes(): number {
    return this.spec.sizeBytes;
  }

  /**
   * Opens the file, creating it sparse (ftruncate to the disk size) when missing. A missing
   * replica is refused once records were applied to it: recreating it empty would silently
   * lose the disk's history.
   */
  async open(mayCreate: boolean): Promise<void> {
    const { replicaPath, sizeBytes, diskId } = this.spec;
    try {
      this.handle = await open(replicaPath, 'r+');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      if (!mayCreate) {
        throw new JournalConfigError(
          `Replica of disk ${diskId} is missing (${replicaPath}) although records were applied to it; the VPG needs a resync`,
          { diskId, replicaPath },
        );
      }
      await mkdir(dirname(replicaPath), { recursive: true, mode: 0o750 });
      this.handle = await open(replicaPath, 'wx+', 0o600);
      await this.handle.truncate(sizeBytes);
      await this.handle.sync();
      await fsyncDirectory(dirname(replicaPath));
      return;
    }
    const { size } = await this.handle.stat();
    if (size < sizeBytes) {
      await this.handle.truncate(sizeBytes); // grown disk: the new space reads as zeros
    } else if (size > sizeBytes) {
      await this.close();
      throw new JournalConfigError(
        `Replica ${replicaPath} of disk ${diskId} is ${formatBytes(size)}, larger than the disk (${formatBytes(sizeBytes)})`,
        { diskId, replicaPath },
      );
    }
  }

  /**
   * Never a synchronous write, unlike the tap's small ones: apply writes thousands of records
   * back to back, and a kernel throttling dirty pages would hold the loop (acks, receives,
   * ticks) for each of them. On the thread pool only the write waits.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    const file = this.file();
    if (!(directWritable(data, offset) && (await this.direct.write(data, offset)))) {
      await writeAll(file, data, offset);
    }
  }

  /**
   * Where apply's worker may write `data` at `offset` itself (journal/small-writes.ts): the
   * file's descriptor, for a write that does not go through O_DIRECT; undefined otherwise.
   */
  smallWriteTarget(offset: number, data: Buffer): SmallWriteTarget | undefined {
    if (directWritable(data, offset)) return undefined;
    const file = this.file();
    if (this.smallTarget?.fd !== file.fd) {
      this.smallTarget = { fd: file.fd, write: (at, bytes) => writeAll(file, bytes, at) };
    }
    return this.smallTarget;
  }

  /** Makes [offset, offset + length) read as zeros. */
  async zero(offset: number, length: number): Promise<void> {
    if (length >= PUNCH_MIN_BYTES && this.canPunch) {
      try {
        await run('fallocate', [
          '--punch-hole',
          '--offset',
          String(offset),
          '--length',
          String(length),
          this.spec.replicaPath,
        ]);
        return;
      } catch {
        this.canPunch = false; // no tool, or a file system without hole punching
      }
    }
    for (let at = offset; at < offset + length; at += ZERO_CHUNK.length) {
      const n = Math.min(ZERO_CHUNK.length, offset + length - at);
      const zeros = ZERO_CHUNK.subarray(0, n);
      if (!(directWritable(zeros, at) && (await this.direct.write(zeros, at)))) {
        await writeAll(this.file(), zeros, at);
      }
    }
  }

  async read(target: Buffer, position: number): Promise<void> {
    await readZeroFilled(this.file(), target, position);
  }

  /** fsync (not fdatasync): punched holes are metadata that must be durable too. */
  async sync(): Promise<void> {
    await this.file().sync();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await this.direct.close();
    await handle?.close();
  }

  private file(): FileHandle {
    if (this.handle === undefined) throw new Error(`replica of disk ${this.diskId} is not open`);
    return this.handle;
  }
}
