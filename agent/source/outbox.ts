import { EventEmitter } from 'node:events';
import { unlinkSync, writevSync } from 'node:fs';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import { encodeRecordParts, type StreamRecord } from '../replication/record';
import { fsyncDirectory, removeStaleTempFiles } from '../store/atomic-file';
import { errnoMessage, isErrno } from '../store/json-file';
import { AppendRing } from '../util/append-ring';
import { isNoSpaceError } from '../util/disk-space';
import { drop } from '../util/drop';
import { loadSegments, segmentDamaged } from './outbox-load';
import { Segment, scanSegment, segmentFileName } from './outbox-segment';
import {
  currentBootId,
  initialOutboxState,
  readOutboxState,
  writeOutboxState,
  type OutboxState,
} from './outbox-state';
import { SeqWatermark } from './seq-watermark';
import { SpareFiles, type RetiredFile } from '../util/spare-files';

/**
 * When an append counts as done:
 * - 'fdatasync' (default): the group commit's write() and an fdatasync of the segment. The
 *   record is on stable storage before the disk file is written, so after any crash (process
 *   or host) the outbox holds every write that may have reached the disk, and redo restores
 *   disk == replay of the stream. FLUSH and FUA then cost nothing extra.
 * - 'write': the group commit's write() only (survives a process crash); fdatasync every
 *   syncIntervalMs and on sync(). Lower write latency, but after a host crash the disk may
 *   hold writes whose records were lost: open() reports `diskMayBeAhead` and the VPG needs a
 *   full resync (hash compare). Records are handed to the sender only once durable, so a lost
 *   tail was never sent and its seqs may be reused.
 * - 'background': as 'write', but every group commit also starts an fdatasync in the
 *   background (one at a time; the next covers every commit written meanwhile). The VM's
 *   write waits for the write() only, as NBD allows (durability is for FLUSH/FUA); records
 *   reach the sender one fdatasync after their write instead of up to syncIntervalMs. Crash
 *   semantics are those of 'write'. The daemon's mode.
 */
export type OutboxCommitMode = 'fdatasync' | 'write' | 'background';

export interface OutboxOptions {
  /** `<dataDir>/outbox/<vpgId>`; created if missing. */
  readonly dir: string;
  readonly vpgId: string;
  /** Backlog (appended, not yet acknowledged by the target) above which the VPG overflows. */
  readonly limitBytes: number;
  /**
   * A segment is closed and a new one started once it holds this many bytes (default 64 MiB,
   * or an eighth of the limit when that is smaller).
   */
  readonly segmentBytes?: number;
  readonly commit?: OutboxCommitMode;
  /** 'write' mode: period of the background fdatasync (default 1000 ms). */
  readonly syncIntervalMs?: number;
  /**
   * Called before acknowledged segments are deleted: make every applied record durable on the
   * disk files (fdatasync them) and return the applied seq captured before syncing. Without
   * it, a host crash after the deletion could lose a write that only the page cache held.
   */
  readonly syncData?: () => Promise<number>;
  /**
   * Memory that keeps the last appended bytes for the sender's reads (default 32 MiB, within
   * a process-wide budget: util/append-ring.ts); 0 for none.
   */
  readonly ringBytes?: number;
}

export interface OutboxOpenReport {
  /** Records held (acknowledged ones included, until their segment is deleted). */
  readonly records: number;
  readonly firstSeq: number;
  /** Highest seq ever held (the sequencer continues after it). */
  readonly lastSeq: number;
  /** Bytes of a torn or corrupt tail cut from the last segment. */
  readonly cutBytes: number;
  readonly cutReason?: string;
  /** The previous run did not close the outbox (process or host crash). */
  readonly uncleanShutdown: boolean;
  /** 'write' mode after a host crash: the disks may hold writes the outbox lost; full resync. */
  readonly diskMayBeAhead: boolean;
}

export interface OutboxEvents {
  /** The readable limit (min of applied and durable seq) moved up to this seq. */
  readable: [seq: number];
  /**
   * An append failed: the outbox refuses appends until it is reopened, or, after a failure
   * for lack of space (`failedForSpace`), until recover().
   */
  failed: [error: TidelineError];
}

interface PendingAppend {
  readonly seq: number;
  /** The record's encoding, in parts (its data is not copied into one buffer). */
  readonly bufs: readonly Buffer[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 256 * 1024;
/**
 * Space held back in the outbox directory and given up the moment an append finds the file
 * system full: the switch to bitmap mode must still write its small state files, or the VPG
 * would have to refuse the VMs' writes.
 */
const RESERVE_FILE = 'reserve';
const RESERVE_BYTES = 1024 * 1024;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_BATCH_RECORDS = 1024;
/**
 * Batches up to this size are written with one synchronous writev on the event loop: copying
 * a few pages into the page cache costs less than a thread-pool round trip, which would
 * otherwise double the latency of a small write (the disk write is a second one).
 */
const SYNC_WRITE_BYTES = 256 * 1024;
/** 'background' mode: delay from a group commit to the fdatasync that covers it. */
const BACKGROUND_SYNC_DELAY_MS = 20;
/**
 * Recent appends kept in memory: the sender reads a few MiB behind the appends (a batch of up
 * to MAX_BATCH_BYTES, one background fdatasync, its reads in flight), so it reads from memory,
 * not from the disk (bench/README.md § 13).
 */
const DEFAULT_RING_BYTES = 32 * 1024 * 1024;
/**
 * Released segment files kept to be written over by the next ones (util/spare-files.ts): the
 * stream releases a segment about as often as it rolls one, so two carry it.
 */
const MAX_SPARE_SEGMENTS = 2;

/** A released segment a read may still hold, and its spare: usable once it is closed. */
interface ReleasedSegment {
  readonly segment: Segment;
  readonly spare?: RetiredFile;
}

/**
 * A VPG's persistent queue of encoded records (the one codec of record.ts) waiting for the
 * target's acknowledgement: segment files named by first seq, appended by group commit (all
 * appends that arrive while a commit is in flight go into the next single writev), read by the
 * sender up to the applied watermark, deleted segment by segment once acknowledged.
 */
export class Outbox extends EventEmitter<OutboxEvents> {
  private readonly segmentBytes: number;
  private readonly commitMode: OutboxCommitMode;
  private state: OutboxState = initialOutboxState();
  private segments: Segment[] = [];
  private queue: PendingAppend[] = [];
  private queuedBytes = 0;
  private pumping = false;
  private failure: TidelineError | undefined;
  /** The failure was a write (not an fdatasync) that found no room: recover() may undo it. */
  private failureForSpace = false;
  private opened = false;
  private closing = false;
  /** Seq of the last record handed to append() (the next must be one higher). */
  private lastQueuedSeq = 0;
  private written = 0;
  private durable = 0;
  private applied = new SeqWatermark(0);
  private acked = 0;
  /** Bytes of held segments that hold acknowledged records. */
  private ackedHeldBytes = 0;
  private heldBytes = 0;
  private syncing: Promise<void> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  /** 'background' mode: the fdatasync due after the group commits of the last few ms. */
  private backgroundSync: NodeJS.Timeout | undefined;
  private releasing: Promise<void> = Promise.resolve();
  private activeReads = 0;
  private readonly closeWhenIdle: ReleasedSegment[] = [];
  private readonly spares: SpareFiles;
  private pumpDone: Promise<void> = Promise.resolve();
  private commits = 0;
  /** Taken at the first commit, given back at close (undefined also when none was left). */
  private ring: AppendRing | undefined;
  private ringTaken = false;

  constructor(private readonly options: OutboxOptions) {
    super();
    // A segment is released only whole, and the acknowledged seq is saved only then: after a
    // crash, the records of the last segment count as backlog until the target's position is
    // known. Segments of a fraction of the limit keep that from overflowing a small outbox.
    this.segmentBytes =
      options.segmentBytes ??
      Math.min(
        DEFAULT_SEGMENT_BYTES,
        Math.max(MIN_SEGMENT_BYTES, Math.floor(options.limitBytes / 8)),
      );
    this.commitMode = options.commit ?? 'fdatasync';
    this.spares = new SpareFiles(options.dir, MAX_SPARE_SEGMENTS);
    if (this.segmentBytes > 1024 ** 3) throw new RangeError('segmentBytes above 1 GiB');
  }

  /**
   * Loads the segments, verifies every record's checksum and continuity, cuts a torn tail of
   * the last segment (a record whose write never completed, so never acknowledged to anyone).
   * Corruption anywhere else is refused: those records were acknowledged to the VM.
   */
  async open(): Promise<OutboxOpenReport> {
    const { dir } = this.options;
    await mkdir(dir, { recursive: true });
    await removeStaleTempFiles(dir);
    await this.spares.clear();
    const saved = await readOutboxState(dir);
    const bootId = await currentBootId();
    this.state = saved ?? initialOutboxState();
    const uncleanShutdown = saved !== undefined && !saved.cleanShutdown;
    const hostCrashed = uncleanShutdown && saved.bootId !== '' && saved.bootId !== bootId;

    const loaded = await loadSegments(dir, this.options.vpgId, this.state.ackedSeq);
    this.segments = loaded.segments;
    const { cutBytes, cutReason } = loaded;
    const oldest = this.segments[0];
    if (oldest !== undefined && oldest.firstSeq > this.state.ackedSeq + 1) {
      await Promise.allSettled(this.segments.map((seg) => seg.close()));
      this.segments = [];
      throw segmentDamaged(
        this.options.vpgId,
        oldest.path,
        0,
        `records ${this.state.ackedSeq + 1}..${oldest.firstSeq - 1} are missing`,
      );
    }
    // In 'write' mode the last group commits may only be in the page cache (process crash).
    await this.lastSegment()?.handle.datasync();

    const held = this.segments.reduce((n, s) => n + s.count, 0);
    const lastRecord = this.lastSegment()?.lastSeq ?? 0;
    const lastSeq = Math.max(lastRecord, this.state.ackedSeq);
    this.lastQueuedSeq = lastSeq;
    this.written = lastSeq;
    this.durable = lastSeq;
    this.acked = this.state.ackedSeq;
    // Records above the disk-synced mark are not known to be on the disks until redo().
    this.applied = new SeqWatermark(
      Math.min(lastSeq, Math.max(this.state.diskSyncedSeq, this.acked)),
    );
    this.heldBytes = this.segments.reduce((n, s) => n + s.size, 0);
    this.recomputeAckedBytes();

    this.state = { ...this.state, cleanShutdown: false, bootId };
    await writeOutboxState(dir, this.state);
    // Best effort: without it a full disk may still be survived (the failed batch was cut).
    await this.ensureReserve();
    this.opened = true;
    if (this.commitMode === 'write') {
      this.syncTimer = setInterval(
        () => drop(this.sync(), () => undefined),
        this.options.syncIntervalMs ?? 1000,
      );
      this.syncTimer.unref();
    }
    return {
      records: held,
      firstSeq: this.segments[0]?.firstSeq ?? lastSeq + 1,
      lastSeq,
      cutBytes,
      ...(cutReason !== undefined && { cutReason }),
      uncleanShutdown,
      diskMayBeAhead: hostCrashed && this.commitMode !== 'fdatasync',
    };
  }

  /** Highest seq ever appended (or acknowledged): the sequencer continues after it. */
  get lastSeq(): number {
    return this.lastQueuedSeq;
  }

  /** Oldest seq still held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.segments[0]?.firstSeq ?? this.written + 1;
  }

  get writtenSeq(): number {
    return this.written;
  }

  get durableSeq(): number {
    return this.durable;
  }

  get appliedSeq(): number {
    return this.applied.value;
  }

  get ackedSeq(): number {
    return this.acked;
  }

  /** Every record up to here is durable on the disk files. */
  get diskSyncedSeq(): number {
    return this.state.diskSyncedSeq;
  }

  /** Bytes appended (or queued) and not yet acknowledged by the target. */
  get backlogBytes(): number {
    return this.heldBytes - this.ackedHeldBytes + this.queuedBytes;
  }

  get limitBytes(): number {
    return this.options.limitBytes;
  }

  /** Group commits so far (each one writev, and an fdatasync in 'fdatasync' mode). */
  get commitCount(): number {
    return this.commits;
  }

  get failed(): TidelineError | undefined {
    return this.failure;
  }

  /** The outbox failed because its file system was full, and recover() can undo that. */
  get failedForSpace(): boolean {
    return this.failure !== undefined && this.failureForSpace;
  }

  get dir(): string {
    return this.options.dir;
  }

  /**
   * After a failure for lack of space, once the file system has room: takes appends again.
   * The failed batch was cut from the file (fail()), so the files end with record
   * `writtenSeq`; those records are made durable, the reserve is put back, and the next append
   * must be writtenSeq + 1: the seqs of the rejected appends were never written anywhere, and
   * the caller (VpgSource, in bitmap mode, handing out no seqs) gives them out again.
   * Returns writtenSeq. Throws, leaving the outbox failed, while there is still no room.
   */
  async recover(): Promise<number> {
    const failure = this.failure;
    if (failure === undefined) return this.written;
    if (!this.failureForSpace || !this.opened || this.closing) {
      throw new TidelineError(
        'CONFLICT',
        `The outbox of VPG ${this.options.vpgId} cannot be recovered in place (${failure.message}); restart the agent`,
        { vpgId: this.options.vpgId },
      );
    }
    await this.pumpDone;
    const segment = this.lastSegment();
    if (segment !== undefined) {
      await segment.handle.truncate(segment.size);
      await segment.handle.datasync();
    }
    // A segment file that a roll created but never indexed would block the next roll.
    if (segment?.firstSeq !== this.written + 1) {
      await unlink(join(this.options.dir, segmentFileName(this.written + 1))).catch(
        (err: unknown) => {
          if (!isErrno(err, 'ENOENT')) throw err;
        },
      );
    }
    if (!(await this.ensureReserve())) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The file system of the outbox of VPG ${this.options.vpgId} (${this.options.dir}) is still full`,
        { vpgId: this.options.vpgId },
      );
    }
    this.failure = undefined;
    this.failureForSpace = false;
    this.lastQueuedSeq = this.written;
    const before = this.readableSeq();
    this.durable = this.written;
    this.notifyReadable(before);
    return this.written;
  }

  /** Whether a record of `bytes` encoded bytes fits under the limit. */
  hasRoom(bytes: number): boolean {
    return this.backlogBytes + bytes <= this.options.limitBytes;
  }

  /**
   * Appends a record (seq must be lastSeq + 1). Resolves once its group commit was written
   * (and, in 'fdatasync' mode, synced). Records are queued synchronously, so callers that
   * sequence and append in the same tick keep the file in seq order.
   */
  append(record: StreamRecord): Promise<void> {
    return this.queueRecord(record.seq, encodeRecordParts(record));
  }

  /** append() of a record already encoded with record.ts. */
  appendEncoded(seq: number, buf: Buffer): Promise<void> {
    return this.queueRecord(seq, [buf]);
  }

  private queueRecord(seq: number, bufs: readonly Buffer[]): Promise<void> {
    if (!this.opened || this.closing) {
      return Promise.reject(
        new TidelineError('UNAVAILABLE', `Outbox of VPG ${this.options.vpgId} is not open`),
      );
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (seq !== this.lastQueuedSeq + 1) {
      return Promise.reject(
        new RangeError(`outbox of ${this.options.vpgId}: seq ${seq} after ${this.lastQueuedSeq}`),
      );
    }
    this.lastQueuedSeq = seq;
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ seq, bufs, bytes, resolve, reject });
      this.queuedBytes += bytes;
      if (!this.pumping) {
        this.pumping = true;
        // Start on the next microtask: appends made in the same tick share the first write.
        this.pumpDone = new Promise<void>((done) => {
          queueMicrotask(() => drop(this.pump().finally(done), () => undefined));
        });
      }
    });
  }

  /** The disk write of record `seq` completed (the tap calls this; checkpoints at append). */
  markApplied(seq: number): void {
    const before = this.readableSeq();
    this.applied.complete(seq);
    this.notifyReadable(before);
  }

  /** Highest seq the sender may read: applied to the disk and durable in the outbox. */
  readableSeq(): number {
    return Math.min(this.applied.value, this.durable);
  }

  /**
   * Makes every record written so far durable (FLUSH/FUA). In 'fdatasync' mode they already
   * are. Concurrent callers share one fdatasync (in 'background' mode, usually the one the
   * last group commit started).
   */
  async sync(): Promise<void> {
    const target = this.written;
    while (this.durable < target && this.failure === undefined) {
      if (this.syncing === undefined) {
        this.syncing = this.syncCurrent().finally(() => {
          this.syncing = undefined;
        });
      }
      await this.syncing;
    }
  }

  /**
   * Encoded records from `fromSeq` on, up to the readable seq, about `maxBytes` in all (at
   * least one record). Each buffer is one whole record; they share one read buffer per segment,
   * made by `alloc` (the sender's pool).
   */
  async read(
    fromSeq: number,
    maxBytes: number,
    alloc: (bytes: number) => Buffer = Buffer.allocUnsafe,
  ): Promise<Buffer[]> {
    const limit = this.readableSeq();
    if (fromSeq > limit) return [];
    if (fromSeq < this.firstSeq) {
      throw new TidelineError(
        'NOT_FOUND',
        `Outbox of VPG ${this.options.vpgId} no longer holds seq ${fromSeq} (oldest ${this.firstSeq})`,
        { vpgId: this.options.vpgId, fromSeq },
      );
    }
    const out: Buffer[] = [];
    let bytes = 0;
    this.activeReads += 1;
    try {
      let seq = fromSeq;
      for (const segment of this.segments) {
        if (segment.lastSeq < seq) continue;
        const last = Math.min(limit, segment.lastSeq);
        if (seq > last) break;
        const start = segment.start(seq);
        let end = segment.end(seq);
        let upto = seq;
        while (upto < last && bytes + segment.end(upto + 1) - start <= maxBytes) {
          upto += 1;
          end = segment.end(upto);
        }
        let span: { buf: Buffer; at: number };
        try {
          span = await segment.readRange(start, end, alloc);
        } catch (err) {
          throw this.ioError('read', err);
        }
        const base = span.at - start;
        for (let s = seq; s <= upto; s += 1) {
          out.push(span.buf.subarray(base + segment.start(s), base + segment.end(s)));
        }
        bytes += end - start;
        seq = upto + 1;
        // Stopped inside this segment (the byte budget), or reached the limit.
        if (upto < last || seq > limit) break;
      }
    } finally {
      this.activeReads -= 1;
      if (this.activeReads === 0) await this.closeIdleSegments();
    }
    return out;
  }

  /**
   * The target persisted every record up to `uptoSeq`. Deletes segments that hold only
   * acknowledged records (never the one being appended to), after syncData() made their
   * writes durable on the disks and the new acked position was saved atomically.
   */
  async release(uptoSeq: number): Promise<void> {
    this.acknowledge(uptoSeq);
    const run = this.releasing.then(() => this.releaseNow(uptoSeq));
    this.releasing = run.catch(() => undefined);
    await run;
  }

  /**
   * Re-applies every record above the disk-synced mark, in seq order, to the disk files
   * (idempotent: each record sets its extent to fixed content). Afterwards every held record is
   * applied. Returns how many records were applied.
   */
  async redo(apply: (record: StreamRecord) => Promise<void>): Promise<number> {
    const from = this.state.diskSyncedSeq + 1;
    let count = 0;
    for (const segment of this.segments) {
      if (segment.lastSeq < from) continue;
      const result = await scanSegment(segment.handle, segment.size, async (record) => {
        if (record.seq < from) return undefined;
        await apply(record);
        count += 1;
        return undefined;
      });
      if (result.outcome.kind !== 'end') {
        throw this.ioError('redo', new Error(`segment ${segment.path} changed while open`));
      }
    }
    const before = this.readableSeq();
    this.applied.advanceTo(this.written);
    this.notifyReadable(before);
    return count;
  }

  /** Records that every record up to `seq` is durable on the disk files (redo starts after). */
  async setDiskSynced(seq: number): Promise<void> {
    if (seq <= this.state.diskSyncedSeq) return;
    this.state = { ...this.state, diskSyncedSeq: seq };
    await writeOutboxState(this.options.dir, this.state);
  }

  /** Waits for queued appends, syncs, saves a clean-shutdown state and closes every file. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.closing = true;
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    if (this.backgroundSync !== undefined) clearTimeout(this.backgroundSync);
    await this.pumpDone;
    await this.releasing;
    if (this.failure === undefined) {
      await this.sync();
      this.state = {
        ...this.state,
        ackedSeq: Math.max(this.state.ackedSeq, this.acked),
        cleanShutdown: true,
      };
      await writeOutboxState(this.options.dir, this.state);
    }
    await this.lastSegment()
      ?.trimPadding()
      .catch(() => undefined); // zeros past the last record: the next open cuts them
    const segments = this.segments;
    this.segments = [];
    this.opened = false;
    await Promise.allSettled([...segments.map((s) => s.close()), this.closeIdleSegments()]);
    // The next open would delete them: their space goes back now.
    await this.spares.dispose().catch(() => undefined);
    this.ring?.release();
    this.ring = undefined;
    this.ringTaken = false;
  }

  // ---- group commit ----

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        // A batch stops at the segment's end, so segments stay near their size (release
        // frees space a segment at a time); a record that does not fit starts the next one.
        const current = this.lastSegment();
        const head = (this.queue[0] as PendingAppend).bytes;
        const roll =
          current === undefined || (current.size > 0 && current.size + head > this.segmentBytes);
        const room = roll ? this.segmentBytes : this.segmentBytes - current.size;
        const cap = Math.min(MAX_BATCH_BYTES, room);
        let take = 0;
        let bytes = 0;
        while (
          take < this.queue.length &&
          take < MAX_BATCH_RECORDS &&
          (take === 0 || bytes + (this.queue[take] as PendingAppend).bytes <= cap)
        ) {
          bytes += (this.queue[take] as PendingAppend).bytes;
          take += 1;
        }
        const batch = this.queue.splice(0, take);
        try {
          await this.commit(batch, bytes, roll);
        } catch (err) {
          // An fdatasync error may have dropped written pages: only a failed write is undone.
          this.fail(err, batch, !(err instanceof SyncFailed) && isNoSpaceError(err));
          return;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  private async commit(batch: PendingAppend[], bytes: number, roll: boolean): Promise<void> {
    const first = batch[0] as PendingAppend;
    const current = this.lastSegment();
    const segment = roll || current === undefined ? await this.roll(first.seq) : current;
    // One writev, on the thread pool when large. Not several in parallel: a buffered write
    // holds the file's inode lock, so parallel writes to one file only spin on it (measured in
    // bench/README.md). Nothing is indexed (or acknowledged) until it completed, so a failure
    // cuts back to `segment.size`.
    const position = segment.size;
    const bufs = batch.length === 1 ? first.bufs : batch.flatMap((p) => p.bufs);
    segment.direct.useRing(this.takeRing());
    // Undefined: through O_DIRECT, no page-cache copy (util/direct-io.ts).
    const buffered = await segment.direct.append(segment.handle, position, bufs, bytes);
    if (buffered !== undefined && buffered.bytes <= SYNC_WRITE_BYTES) {
      const written = writevSync(segment.handle.fd, buffered.buffers, buffered.position);
      if (written !== buffered.bytes) throw shortWrite(written, buffered.bytes);
    } else if (buffered !== undefined) {
      await writeAll(segment.handle, buffered.buffers, buffered.position, buffered.bytes);
    }
    if (this.commitMode === 'fdatasync') await datasync(segment.handle);
    for (const p of batch) segment.push(p.bytes);
    this.commits += 1;
    // Both counters in one step: backlogBytes is read at any time, also by the 'readable'
    // listeners below, and a batch counted queued and held at once read as a backlog
    // a whole batch too high until the second counter caught up.
    this.heldBytes += bytes;
    this.queuedBytes -= bytes;
    const last = (batch[batch.length - 1] as PendingAppend).seq;
    this.written = last;
    if (this.commitMode === 'fdatasync') {
      const before = this.readableSeq();
      this.durable = last;
      this.notifyReadable(before);
    } else if (this.commitMode === 'background' && this.backgroundSync === undefined) {
      // One fdatasync (and so one batch for the sender and the target) per few ms of writes,
      // not per group commit: at queue depth 1 a commit holds a single record.
      this.backgroundSync = setTimeout(() => {
        this.backgroundSync = undefined;
        // An fdatasync error may have lost written records: the outbox fails (bitmap mode).
        drop(this.sync(), (err) => {
          if (this.failure === undefined) this.fail(err, [], false);
        });
      }, BACKGROUND_SYNC_DELAY_MS);
    }
  }

  /** Starts a new segment named by its first seq; the previous one is synced first. */
  private async roll(firstSeq: number): Promise<Segment> {
    const previous = this.lastSegment();
    if (previous !== undefined && this.commitMode !== 'fdatasync') {
      await datasync(previous.handle);
    }
    const path = join(this.options.dir, segmentFileName(firstSeq));
    const reused = await this.spares.take(path);
    const handle = reused ?? (await open(path, 'wx+', 0o600));
    // The new name must survive a host crash, or an fdatasync of the file would mean nothing.
    await fsyncDirectory(this.options.dir);
    // Harmless if it fails: an open takes the zeros (or a reused file's old bytes past a
    // segment that its successor follows) for what they are.
    await previous?.trimPadding().catch(() => undefined);
    const segment = new Segment(firstSeq, path, handle, true, reused !== undefined);
    this.segments.push(segment);
    if (previous !== undefined && this.commitMode !== 'fdatasync') {
      const before = this.readableSeq();
      this.durable = Math.max(this.durable, previous.lastSeq);
      this.notifyReadable(before);
    }
    return segment;
  }

  private fail(err: unknown, batch: PendingAppend[], forSpace: boolean): void {
    const error = this.ioError('append to', err instanceof SyncFailed ? err.cause : err);
    this.failure = error;
    this.failureForSpace = forSpace;
    if (forSpace) {
      // Synchronously, before the 'failed' listeners write the bitmap-mode state files.
      try {
        unlinkSync(join(this.options.dir, RESERVE_FILE));
      } catch {
        // none was made (the disk was full at open)
      }
      drop(this.spares.dispose(), () => undefined); // room for whatever comes next
    }
    const rejected = [...batch, ...this.queue];
    this.queue = [];
    this.queuedBytes = 0;
    // Whatever part of the batch reached the file is not indexed; cut it so a reopen agrees.
    const segment = this.lastSegment();
    if (segment !== undefined) drop(segment.handle.truncate(segment.size), () => undefined);
    for (const p of rejected) p.reject(error);
    this.emit('failed', error);
  }

  private async syncCurrent(): Promise<void> {
    const upto = this.written;
    const segment = this.lastSegment();
    if (segment !== undefined) await segment.handle.datasync();
    const before = this.readableSeq();
    this.durable = Math.max(this.durable, upto);
    this.notifyReadable(before);
  }

  // ---- release ----

  /**
   * The backlog shrinks as the ACK arrives, not after the disk sync of releaseNow (a write
   * meanwhile must not overflow on bytes the target already has), nor after an earlier
   * release's sync: those run one at a time, and one under load took long enough that an ACK
   * received before the link went down still shrank the backlog after it.
   */
  private acknowledge(uptoSeq: number): void {
    const limit = this.readableSeq();
    if (uptoSeq > limit) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `Outbox of VPG ${this.options.vpgId}: release of seq ${uptoSeq}, which was never sent (readable up to ${limit})`,
        { vpgId: this.options.vpgId, uptoSeq },
      );
    }
    if (uptoSeq <= this.acked) return;
    this.acked = uptoSeq;
    this.recomputeAckedBytes();
  }

  /** Deletes the segments `uptoSeq` acknowledged in full (never the one being appended to). */
  private async releaseNow(uptoSeq: number): Promise<void> {
    const deletable: Segment[] = [];
    for (let i = 0; i < this.segments.length - 1; i += 1) {
      const segment = this.segments[i] as Segment;
      if (segment.lastSeq > uptoSeq) break;
      deletable.push(segment);
    }
    if (deletable.length > 0) {
      const synced = this.options.syncData !== undefined ? await this.options.syncData() : 0;
      this.state = {
        ...this.state,
        ackedSeq: Math.max(this.state.ackedSeq, uptoSeq),
        diskSyncedSeq: Math.max(this.state.diskSyncedSeq, Math.min(synced, this.written)),
      };
      await writeOutboxState(this.options.dir, this.state);
      // Both counters change together, before any await: backlogBytes is read at any time.
      this.segments = this.segments.slice(deletable.length);
      for (const segment of deletable) this.heldBytes -= segment.size;
      this.recomputeAckedBytes();
      for (const segment of deletable) {
        const spare = await this.spares.retire(segment.path);
        this.closeWhenIdle.push(spare === undefined ? { segment } : { segment, spare });
      }
      if (this.activeReads === 0) await this.closeIdleSegments();
    }
    this.recomputeAckedBytes();
  }

  private recomputeAckedBytes(): void {
    let bytes = 0;
    for (const segment of this.segments) {
      if (segment.lastSeq <= this.acked) {
        bytes += segment.size;
        continue;
      }
      if (segment.firstSeq <= this.acked) bytes += segment.start(this.acked + 1);
      break;
    }
    this.ackedHeldBytes = bytes;
  }

  private async closeIdleSegments(): Promise<void> {
    const idle = this.closeWhenIdle.splice(0);
    await Promise.allSettled(idle.map(({ segment }) => segment.close()));
    for (const { spare } of idle) spare?.usable();
  }

  // ---- helpers ----

  /** Makes sure the reserve file holds RESERVE_BYTES of allocated space; false if no room. */
  private async ensureReserve(): Promise<boolean> {
    const path = join(this.options.dir, RESERVE_FILE);
    const present = await stat(path).catch(() => undefined);
    if (present?.size === RESERVE_BYTES) return true;
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'w', 0o600);
      // Zeros written, not a sparse size: the blocks must really be taken.
      const zeros = Buffer.alloc(RESERVE_BYTES);
      const { bytesWritten } = await handle.write(zeros, 0, RESERVE_BYTES, 0);
      if (bytesWritten !== RESERVE_BYTES) throw shortWrite(bytesWritten, RESERVE_BYTES);
      await handle.close();
      return true;
    } catch {
      await handle?.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      return false;
    }
  }

  private takeRing(): AppendRing | undefined {
    if (!this.ringTaken) {
      this.ringTaken = true;
      const bytes = this.options.ringBytes ?? DEFAULT_RING_BYTES;
      this.ring = bytes > 0 ? AppendRing.take(bytes) : undefined;
    }
    return this.ring;
  }

  private lastSegment(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  private notifyReadable(before: number): void {
    const now = this.readableSeq();
    if (now > before) this.emit('readable', now);
  }

  private ioError(what: string, err: unknown): TidelineError {
    return new TidelineError(
      'INTERNAL_ERROR',
      `Cannot ${what} the outbox of VPG ${this.options.vpgId} in ${this.options.dir}: ${errnoMessage(err)}`,
      { vpgId: this.options.vpgId },
    );
  }
}

/** An fdatasync failed: pages written before it may be lost, so the failure is not undone. */
class SyncFailed extends Error {
  constructor(override readonly cause: unknown) {
    super(errnoMessage(cause));
  }
}

async function datasync(handle: FileHandle): Promise<void> {
  try {
    await handle.datasync();
  } catch (err) {
    throw new SyncFailed(err);
  }
}

/** A regular file takes fewer bytes than asked only when its file system (or quota) is full. */
function shortWrite(written: number, bytes: number): Error {
  return Object.assign(
    new Error(`short write: ${written} of ${bytes} bytes, the file system is full`),
    { code: 'ENOSPC' },
  );
}

async function writeAll(
  handle: FileHandle,
  bufs: readonly Buffer[],
  position: number,
  bytes: number,
): Promise<void> {
  const { bytesWritten } = await handle.writev(bufs, position);
  if (bytesWritten !== bytes) throw shortWrite(bytesWritten, bytes);
}
