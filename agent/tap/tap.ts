import type { DiskFile } from './disk-file';

/** Options of a write or write-zeroes request. */
export interface WriteOptions {
  /**
   * Force unit access: the request is durable on stable storage at the source before its
   * promise resolves (NBD_CMD_FLAG_FUA), not only when the next flush() returns.
   */
  readonly fua?: boolean;
}

/**
 * The only way writes enter protection. Two producers share it: the NBD server (real
 * hypervisors) and the sim hypervisor's workload generator. A request's promise resolves when
 * the VM may be told it is done; for a protected disk that means it was sequenced, appended to
 * the VPG's outbox and written to the disk file, in that order (see replication/README.md).
 *
 * Offsets and lengths are bytes; an extent must lie within the disk. Reads see every write
 * whose promise has resolved. A write's `data` is lent: nothing may keep it once the promise
 * resolved (the NBD server reuses the buffer for the next request).
 */
export interface Tap {
  write(diskId: string, offset: number, data: Buffer, options?: WriteOptions): Promise<void>;
  /** The extent reads back as zeros afterwards (NBD_CMD_WRITE_ZEROES). */
  zero(diskId: string, offset: number, length: number, options?: WriteOptions): Promise<void>;
  /**
   * The guest no longer needs the extent (NBD_CMD_TRIM). Applied as zeroing, at the source and
   * on replay, so that source and replica stay byte-identical.
   */
  trim(diskId: string, offset: number, length: number): Promise<void>;
  /** Everything acknowledged before this call is durable on stable storage at the source. */
  flush(): Promise<void>;
  /** Reads the extent (into `into`, `length` bytes long, when given: no allocation). */
  read(diskId: string, offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Size in bytes of an attached disk. */
  diskSize(diskId: string): number;
}

/**
 * Where the tap hands the requests of a protected disk: the VPG's source pipeline
 * (VpgSource). The tap has already checked that the extent lies within the disk.
 */
export interface ProtectedWriteSink {
  write(disk: DiskFile, offset: number, data: Buffer, options?: WriteOptions): Promise<void>;
  zero(
    disk: DiskFile,
    offset: number,
    length: number,
    kind: 'zero' | 'trim',
    options?: WriteOptions,
  ): Promise<void>;
  /** Makes every acknowledged request of this VPG durable (outbox sync, or disk sync). */
  flush(): Promise<void>;
}
