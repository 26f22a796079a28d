import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StreamRecord } from '../replication/record';
import { fsyncDirectory, removeStaleTempFiles } from '../store/atomic-file';
import { isNoSpaceError } from '../util/disk-space';
import { SpareFiles } from '../util/spare-files';
import { decodeFrame, writeBatch, type BatchItem } from './append-batch';
import { applyRecords } from './apply';
import { AsyncRwLock } from './async-lock';
import {
  CheckpointAppliedError,
  InconsistentCheckpointError,
  JournalClosedError,
  JournalConfigError,
  JournalCorruptError,
  JournalDiskFullError,
  JournalFailedError,
  JournalGapError,
  JournalRangeError,
  JournalRecordError,
  UnknownCheckpointError,
  UnknownDiskError,
} from './errors';
import { CheckpointView } from './checkpoint-view';
import { fillFromView, writeImage, type ImageResult } from './export';
import type { ExtentMap } from './extent-index';
import { LOCK_FILE } from './layout';
import { LockFile } from './lock-file';
import { addRecordRow, NO_DISK } from './record-table';
import type {
  ExportOptions,
  HistoryReducedEvent,
  JournalEventMap,
  JournalUsage,
  PinHoldEvent,
  RecoveryReport,
  RetentionResult,
  SizeEvent,
  ViewOptions,
} from './journal-types';
import {
  DEFAULT_SEGMENT_BYTES,
  validateOptions,
  type JournalLog,
  type JournalOptions,
} from './options';
import { checkpointInfo, recoverSegments } from './recover';
import { ReplicaDisk, type ReplicaDiskSpec } from './replica';
import { pinLimit, readPins, writePins } from './pins';
import { planRetention } from './retention';
import { diskView } from './view';
import type { SegmentFile } from './segment-file';
import {
  readJournalConfig,
  readReplicaState,
  saveJournalConfig,
  writeReplicaState,
  type CheckpointInfo,
  type JournalConfig,
} from './state-files';

export type * from './journal-types';
export type { JournalLog, JournalOptions } from './options';
export { DEFAULT_SEGMENT_BYTES } from './options';

/** Largest readAt: bigger views are exported, not read into memory. */
export const MAX_READ_BYTES = 64 * 1024 * 1024;
const VIEW_CACHE_ENTRIES = 8;

/** Released segments kept to be written over: apply releases about as often as appends roll. */
const MAX_SPARE_SEGMENTS = 2;

/**
 * One VPG's journal at the target: append-only segments of records (record.ts encoding), the
 * replica disks as of `appliedSeq`, and point-in-time views at every retained checkpoint.
 * See agent/replication/README.md for the promises it keeps.
 *
 * Concurrency: appends are serialized by one lock; apply/retention (writers) and
 * readAt/exportDisk (readers) share a readers-writer lock, so a long export holds back
 * apply (the journal grows meanwhile) but never appends. Releasing segments takes both.
 *
 * The owner calls enforceRetention periodically (every checkpoint interval is plenty).
 */
export class Journal extends EventEmitter<JournalEventMap> {
  readonly vpgId: string;
  readonly dir: string;
  private readonly segmentBytes: number;
  /** Released segment files that new segments are written over (util/spare-files.ts). */
  private readonly spares: SpareFiles;
  private readonly historyMs: number;
  private readonly hardLimitBytes: number;
  private readonly warningBytes: number;
  private readonly now: () => number;
  private readonly log: JournalLog;
  private readonly onAppended: JournalOptions['onAppended'];
  private readonly replicas: ReplicaDisk[];
  private readonly diskIndex: Map<string, number>;
  private readonly appendLock = new AsyncRwLock();
  private readonly replicaLock = new AsyncRwLock();
  private readonly viewCache = new Map<string, ExtentMap<SegmentFile>>();
  /** Apply holds by id (pins.json): apply never goes past the lowest. */
  private pinned = new Map<string, number>();
  /** exportDisk calls running: each holds apply back for as long as it copies. */
  private exports = 0;
  /** Moves with every apply: CheckpointViews resolve their map again. */
  private applyGeneration = 0;
  private segments: SegmentFile[] = [];
  /** Checkpoints with seq >= appliedSeq, oldest first. */
  private retained: CheckpointInfo[] = [];
  private last = 0;
  private applied = 0;
  private newestSourceTime: number | undefined;
  private lock: LockFile | undefined;
  private failure: unknown;
  private closing: Promise<void> | undefined;
  private closed = false;
  private sizeWarning = false;
  private report: RecoveryReport = {
    tailCut: undefined,
    releasedSegments: 0,
    finishedApplyTo: undefined,
  };

  private constructor(options: JournalOptions) {
    super();
    this.vpgId = options.vpgId;
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.spares = new SpareFiles(options.dir, MAX_SPARE_SEGMENTS);
    this.historyMs = options.historyMs;
    this.hardLimitBytes = options.hardLimitBytes;
    this.warningBytes = options.warningBytes;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? { warn: () => undefined, info: () => undefined };
    this.onAppended = options.onAppended;
    this.replicas = options.disks.map((spec) => new ReplicaDisk(spec));
    this.diskIndex = new Map(options.disks.map((d, i) => [d.diskId, i]));
  }

  /**
   * Opens (or creates) the journal: takes the directory's lock, scans and verifies every
   * segment, cuts a torn tail, finishes an apply a crash interrupted, opens the replicas.
   */
  static async open(options: JournalOptions): Promise<Journal> {
    validateOptions(options);
    const journal = new Journal(options);
    await journal.start();
    return journal;
  }

  /** Reopens a journal from its journal.json (tools such as export-disk). */
  static async openExisting(
    dir: string,
    extra: Pick<JournalOptions, 'log' | 'now'> = {},
  ): Promise<Journal> {
    const config = await readJournalConfig(dir);
    return Journal.open({ ...config, dir, ...extra });
  }

  get lastSeq(): number {
    return this.last;
  }

  /** The replica disks hold every record up to here. */
  get appliedSeq(): number {
    return this.applied;
  }

  get recovery(): RecoveryReport {
    return this.report;
  }

  disks(): readonly ReplicaDiskSpec[] {
    return this.replicas.map((r) => r.spec);
  }

  /** Retained checkpoints, oldest first: each is a point the disks can be recovered to. */
  checkpoints(): CheckpointInfo[] {
    return [...this.retained];
  }

  latestCheckpoint(options: { readonly consistent?: boolean } = {}): CheckpointInfo | undefined {
    for (let i = this.retained.length - 1; i >= 0; i -= 1) {
      const c = this.retained[i] as CheckpointInfo;
      if (options.consistent !== true || c.inconsistent !== true) return c;
    }
    return undefined;
  }

  /** The pins holding apply back, by id. */
  pins(): ReadonlyMap<string, number> {
    return new Map(this.pinned);
  }

  /**
   * Holds apply (retention, applyUpTo) at or below `seq` until unpin(id); appends go on. The
   * pin is persisted (pins.json) before this resolves, so it outlives a restart. Pinning an id
   * again moves its pin. `seq` must still be recoverable (>= appliedSeq, <= lastSeq);
   * `'applied'` pins at the current appliedSeq: no apply at all.
   */
  async pin(id: string, seq: number | 'applied'): Promise<number> {
    this.assertOpen();
    return this.replicaLock.exclusive(async () => {
      this.assertOpen();
      const at = seq === 'applied' ? this.applied : seq;
      if (!Number.isSafeInteger(at) || at > this.last) {
        throw new UnknownCheckpointError(this.vpgId, String(at));
      }
      if (at < this.applied) throw new CheckpointAppliedError(this.vpgId, at, this.applied);
      const next = new Map(this.pinned).set(id, at);
      await writePins(this.dir, next);
      this.pinned = next;
      return at;
    });
  }

  /** Releases a pin (persisted). Unknown ids are ignored. */
  async unpin(id: string): Promise<void> {
    this.assertOpen();
    await this.replicaLock.exclusive(async () => {
      this.assertOpen();
      if (!this.pinned.has(id)) return;
      const next = new Map(this.pinned);
      next.delete(id);
      await writePins(this.dir, next);
      this.pinned = next;
    });
  }

  usage(): JournalUsage {
    return {
      bytes: this.totalBytes(),
      segments: this.segments.length,
      oldestSourceTime: this.retained[0]?.sourceTime,
      newestSourceTime: this.newestSourceTime,
      hardLimitBytes: this.hardLimitBytes,
      warningBytes: this.warningBytes,
      lastSeq: this.last,
      appliedSeq: this.applied,
    };
  }

  /**
   * Appends records that continue the sequence (seq === lastSeq + 1, …) and resolves once they
   * are durable: one vectored write per segment touched and one fdatasync per call (group
   * commit), so the caller may acknowledge them to the source. Records with seq <= lastSeq
   * are resends and skipped. A gap throws JournalGapError and writes nothing of the batch.
   */
  async append(records: readonly StreamRecord[]): Promise<{ lastSeq: number }> {
    return this.appendItems(records.map((record) => ({ record })));
  }

  /**
   * append() for records still in their encoding (the frames the link received): each buffer
   * holds exactly one record; its checksum is verified and the bytes are written as they are,
   * without encoding them again.
   */
  async appendEncoded(encoded: readonly Buffer[]): Promise<{ lastSeq: number }> {
    const items = encoded.map((bytes, i): BatchItem => {
      const record = decodeFrame(bytes);
      if (record === undefined) {
        throw new JournalRecordError(
          this.vpgId,
          this.last + 1 + i,
          `buffer ${i} of the batch is not one intact record`,
        );
      }
      return { record, encoded: bytes };
    });
    return this.appendItems(items);
  }

  /**
   * appendEncoded() for records the caller already decoded from exactly these bytes, checksum
   * verified (the link's `decodeRecordsPayload`): written as they are, without a second CRC pass.
   */
  async appendDecoded(
    items: readonly { readonly record: StreamRecord; readonly encoded: Buffer }[],
  ): Promise<{ lastSeq: number }> {
    return this.appendItems(items);
  }

  private async appendItems(items: readonly BatchItem[]): Promise<{ lastSeq: number }> {
    this.assertOpen();
    return this.appendLock.exclusive(async () => {
      this.assertOpen();
      if (this.failure !== undefined) throw new JournalFailedError(this.vpgId, this.failure);
      const batch = this.acceptable(items);
      if (batch.length > 0) {
        try {
          await this.write(batch);
        } catch (err) {
          // A full disk leaves the journal as it was (writeBatch undid the batch): retryable.
          if (isNoSpaceError(err)) {
            await this.spares.dispose().catch(() => undefined); // their room, for the retry
            throw new JournalDiskFullError(this.vpgId, this.dir);
          }
          this.failure = err;
          throw new JournalFailedError(this.vpgId, err);
        }
      }
      return { lastSeq: this.last };
    });
  }

  /**
   * Brings the replicas up to `seq` (at most lastSeq): writes the records after appliedSeq in
   * seq order, fsyncs the replicas, persists appliedSeq, then deletes the segments that hold
   * only applied records. A crash at any point is repaired by the next open.
   */
  async applyUpTo(seq: number): Promise<{ appliedSeq: number }> {
    this.assertOpen();
    return this.replicaLock.exclusive(async () => {
      this.assertOpen();
      await this.applyLocked(seq);
      return { appliedSeq: this.applied };
    });
  }

  /**
   * Applies what left the history window (up to the newest checkpoint older than it), then,
   * past the hard limit, the oldest segments (history-reduced); reports crossing warningBytes.
   */
  async enforceRetention(now: number = this.now()): Promise<RetentionResult> {
    this.assertOpen();
    return this.replicaLock.exclusive(async () => {
      this.assertOpen();
      const bytesBefore = this.totalBytes();
      const appliedBefore = this.applied;
      const plan = planRetention({
        segments: this.segments,
        checkpoints: this.retained,
        appliedSeq: this.applied,
        cutoff: now - this.historyMs,
        hardLimitBytes: this.hardLimitBytes,
      });
      const wanted = Math.max(plan.windowSeq ?? 0, plan.limitSeq ?? 0);
      const limit = pinLimit(this.pinned);
      let heldByPin: PinHoldEvent | undefined;
      if (limit !== undefined && wanted > limit) {
        heldByPin = {
          vpgId: this.vpgId,
          pinSeq: limit,
          wantedSeq: wanted,
          overHardLimit: plan.limitSeq !== undefined && plan.limitSeq > limit,
          bytes: bytesBefore,
          hardLimitBytes: this.hardLimitBytes,
        };
        if (heldByPin.overHardLimit) {
          this.log.warn(
            { ...heldByPin, pins: [...this.pinned.keys()] },
            'journal over its hard limit but a recovery pin holds apply: history is kept',
          );
        }
        this.emit('pin-held', heldByPin);
      }
      await this.applyLocked(wanted);
      let historyReduced: HistoryReducedEvent | undefined;
      // History was reduced when the hard limit made apply go further than the window did.
      if (
        plan.limitSeq !== undefined &&
        this.applied > Math.max(plan.windowSeq ?? 0, appliedBefore)
      ) {
        historyReduced = {
          vpgId: this.vpgId,
          appliedSeq: this.applied,
          bytesBefore,
          bytesAfter: this.totalBytes(),
          hardLimitBytes: this.hardLimitBytes,
          oldestSourceTime: this.retained[0]?.sourceTime,
        };
        this.log.warn({ ...historyReduced }, 'journal over its hard limit: history reduced');
        this.emit('history-reduced', historyReduced);
      }
      this.checkSizeWarning();
      return {
        appliedSeq: this.applied,
        historyReduced,
        ...(heldByPin !== undefined && { heldByPin }),
        sizeWarning: this.sizeWarning,
        usage: this.usage(),
      };
    });
  }

  /** Bytes [offset, offset + length) of a disk as they were at checkpoint `checkpointSeq`. */
  async readAt(
    diskId: string,
    offset: number,
    length: number,
    checkpointSeq: number,
    options: ViewOptions = {},
  ): Promise<Buffer> {
    this.assertOpen();
    const disk = this.diskNumber(diskId);
    const replica = this.replicas[disk] as ReplicaDisk;
    this.checkRange(diskId, replica, offset, length, length);
    return this.replicaLock.shared(async () => {
      this.assertOpen();
      this.checkPointInTime(checkpointSeq, options);
      const target = Buffer.alloc(length);
      await fillFromView(this.view(disk, checkpointSeq), replica, target, offset);
      return target;
    });
  }

  /**
   * A reader of one disk at checkpoint `checkpointSeq` for many reads (checkpoint-view.ts):
   * the extent map is resolved once here. Pin the checkpoint first (pin()) so retention
   * cannot apply past it while the view is in use.
   */
  async openView(
    diskId: string,
    checkpointSeq: number,
    options: ViewOptions = {},
  ): Promise<CheckpointView> {
    this.assertOpen();
    const disk = this.diskNumber(diskId);
    const replica = this.replicas[disk] as ReplicaDisk;
    const resolve = (): ExtentMap<SegmentFile> => {
      this.assertOpen();
      this.checkPointInTime(checkpointSeq, options);
      return this.resolveView(disk, checkpointSeq);
    };
    const host = {
      replica,
      generation: () => this.applyGeneration,
      resolve,
      shared: async <T>(fn: () => Promise<T>): Promise<T> => {
        this.assertOpen();
        return this.replicaLock.shared(async () => {
          this.assertOpen();
          return fn();
        });
      },
    };
    return this.replicaLock.shared(
      async () => new CheckpointView(host, diskId, checkpointSeq, resolve()),
    );
  }

  /**
   * Extents of a disk as of record `seq` (the replica plus every record up to and including
   * `seq`), checkpoint or not: what a delta sync compares with the source. One view for all
   * the extents. CheckpointAppliedError when the replica was already applied past `seq`;
   * JournalRangeError past lastSeq or outside the disk.
   */
  async readAsOf(
    diskId: string,
    extents: readonly { readonly offset: number; readonly length: number }[],
    seq: number,
  ): Promise<Buffer[]> {
    this.assertOpen();
    const disk = this.diskNumber(diskId);
    const replica = this.replicas[disk] as ReplicaDisk;
    let total = 0;
    for (const { offset, length } of extents) {
      total += length;
      this.checkRange(diskId, replica, offset, length, total);
    }
    return this.replicaLock.shared(async () => {
      this.assertOpen();
      if (seq < this.applied) throw new CheckpointAppliedError(this.vpgId, seq, this.applied);
      if (!Number.isSafeInteger(seq) || seq > this.last) {
        throw new JournalRangeError(this.vpgId, diskId, 0, 0, replica.sizeBytes);
      }
      // Not cached: every compare asks for another seq.
      const map = diskView({
        segments: this.segments,
        disk,
        afterSeq: this.applied,
        beforeSeq: seq + 1,
        sizeBytes: replica.sizeBytes,
      });
      const out: Buffer[] = [];
      for (const { offset, length } of extents) {
        const target = Buffer.alloc(length);
        await fillFromView(map, replica, target, offset);
        out.push(target);
      }
      return out;
    });
  }

  /** A read inside the disk, of at most MAX_READ_BYTES in all (`total`). */
  private checkRange(
    diskId: string,
    replica: ReplicaDisk,
    offset: number,
    length: number,
    total: number,
  ): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > replica.sizeBytes ||
      total > MAX_READ_BYTES
    ) {
      throw new JournalRangeError(this.vpgId, diskId, offset, length, replica.sizeBytes);
    }
  }

  /** Writes the whole disk as of checkpoint `checkpointSeq` to `outPath` as a sparse raw image. */
  async exportDisk(
    diskId: string,
    checkpointSeq: number,
    outPath: string,
    options: ExportOptions = {},
  ): Promise<ImageResult> {
    this.assertOpen();
    const disk = this.diskNumber(diskId);
    this.exports += 1;
    try {
      return await this.replicaLock.shared(async () => {
        this.assertOpen();
        this.checkPointInTime(checkpointSeq, options);
        return writeImage({
          map: this.view(disk, checkpointSeq),
          replica: this.replicas[disk] as ReplicaDisk,
          outPath,
          onProgress: options.onProgress,
          sha256: options.sha256,
        });
      });
    } finally {
      this.exports -= 1;
    }
  }

  /**
   * Apply is held on purpose: a recovery pin (a test failover, a recovered disk) or an export
   * that reads the replicas. History is then kept past the hard limit (enforceRetention).
   */
  applyHeld(): boolean {
    return this.pinned.size > 0 || this.exports > 0;
  }

  /** Waits for running work, closes every file and releases the lock. Idempotent. */
  close(): Promise<void> {
    // Lock order everywhere: replica lock, then append lock (apply releases segments so).
    this.closing ??= this.replicaLock.exclusive(() =>
      this.appendLock.exclusive(async () => {
        this.closed = true;
        this.viewCache.clear();
        const results = await Promise.allSettled([
          ...this.segments.map((s) => s.trimPadding().finally(() => s.close())),
          ...this.replicas.map((r) => r.close()),
          this.spares.dispose(),
        ]);
        await this.lock?.release();
        const failed = results.find((r) => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      }),
    );
    return this.closing;
  }

  // ───────────────────────────── open ─────────────────────────────

  private async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    this.lock = await LockFile.acquire(join(this.dir, LOCK_FILE));
    try {
      await this.load();
    } catch (err) {
      this.closed = true;
      await Promise.allSettled([
        ...this.segments.map((s) => s.close()),
        ...this.replicas.map((r) => r.close()),
      ]);
      await this.lock.release();
      throw err;
    }
  }

  private async load(): Promise<void> {
    await removeStaleTempFiles(this.dir);
    await this.spares.clear();
    await this.checkConfigOwner();
    await saveJournalConfig(this.dir, this.config());
    const state = await readReplicaState(this.dir);
    this.pinned = await readPins(this.dir);
    const pristine = state.appliedSeq === 0 && state.applyingTo === undefined;
    for (const replica of this.replicas) await replica.open(pristine);
    const recovered = await recoverSegments({
      dir: this.dir,
      vpgId: this.vpgId,
      appliedSeq: state.appliedSeq,
      diskIndex: (id) => this.diskIndex.get(id),
    });
    this.segments = recovered.segments;
    this.applied = state.appliedSeq;
    this.last = Math.max(state.appliedSeq, recovered.lastRecordSeq);
    this.retained = recovered.checkpoints;
    const atApplied = state.appliedCheckpoint;
    if (atApplied?.seq === state.appliedSeq && this.retained[0]?.seq !== atApplied.seq) {
      this.retained.unshift(atApplied);
    }
    this.newestSourceTime = this.newestRecordTime();
    if (recovered.tailCut !== undefined) {
      this.log.warn(
        { vpgId: this.vpgId, ...recovered.tailCut, lastSeq: this.last },
        `journal: cut ${recovered.tailCut.bytesCut} bytes past the last whole record (a write ` +
          'a crash cut short, or the old bytes of a reused segment file)',
      );
    }
    if (recovered.unknownDiskRecords > 0) {
      this.log.warn(
        { vpgId: this.vpgId, records: recovered.unknownDiskRecords },
        'journal: records for disks the VPG no longer has are ignored',
      );
    }
    let finishedApplyTo: number | undefined;
    let released = recovered.released;
    if (state.applyingTo !== undefined && state.applyingTo > state.appliedSeq) {
      if (state.applyingTo > this.last) {
        throw new JournalCorruptError(
          this.vpgId,
          'replica-state.json',
          0,
          `an apply up to record ${state.applyingTo} was interrupted but the journal ends at ${this.last}`,
        );
      }
      this.log.warn(
        { vpgId: this.vpgId, from: state.appliedSeq, to: state.applyingTo },
        'journal: finishing an apply that was interrupted',
      );
      released += await this.applyLocked(state.applyingTo);
      finishedApplyTo = state.applyingTo;
    }
    const releasedSegments = released + (await this.releaseApplied());
    this.report = { tailCut: recovered.tailCut, releasedSegments, finishedApplyTo };
  }

  private async checkConfigOwner(): Promise<void> {
    let existing: JournalConfig;
    try {
      existing = await readJournalConfig(this.dir);
    } catch {
      return; // none yet (or unreadable: it is rewritten from the options)
    }
    if (existing.vpgId !== this.vpgId) {
      throw new JournalConfigError(
        `Journal directory ${this.dir} belongs to VPG ${existing.vpgId}, not ${this.vpgId}`,
        { dir: this.dir },
      );
    }
  }

  private config(): JournalConfig {
    return {
      version: 1,
      vpgId: this.vpgId,
      segmentBytes: this.segmentBytes,
      historyMs: this.historyMs,
      hardLimitBytes: this.hardLimitBytes,
      warningBytes: this.warningBytes,
      disks: this.replicas.map((r) => ({ ...r.spec })),
    };
  }

  // ───────────────────────────── append ─────────────────────────────

  /** The records of the batch that are new, checked; nothing is written if any is wrong. */
  private acceptable(items: readonly BatchItem[]): BatchItem[] {
    const fresh: BatchItem[] = [];
    let expected = this.last + 1;
    for (const item of items) {
      const { seq } = item.record;
      if (seq <= this.last) continue;
      if (seq !== expected) throw new JournalGapError(this.vpgId, expected, seq);
      this.checkRecord(item.record);
      fresh.push(item);
      expected += 1;
    }
    return fresh;
  }

  private checkRecord(record: StreamRecord): void {
    const refuse = (problem: string): never => {
      throw new JournalRecordError(this.vpgId, record.seq, problem);
    };
    if (record.vpgId !== this.vpgId) refuse(`it belongs to VPG ${record.vpgId}`);
    if (record.kind === 'checkpoint') return;
    const disk = this.diskIndex.get(record.diskId);
    if (disk === undefined) return refuse(`the VPG has no disk "${record.diskId}"`);
    const length = 'data' in record ? record.data.length : record.length;
    const size = (this.replicas[disk] as ReplicaDisk).sizeBytes;
    if (
      !Number.isSafeInteger(record.offset) ||
      !Number.isSafeInteger(length) ||
      record.offset < 0 ||
      length < 0 ||
      record.offset + length > size
    ) {
      refuse(`extent ${record.offset}+${length} is outside disk ${record.diskId} (${size} bytes)`);
    }
  }

  /** Writes the batch durably (append-batch.ts), then makes its records visible. */
  private async write(batch: readonly BatchItem[]): Promise<void> {
    const groups = await writeBatch({
      dir: this.dir,
      tail: this.segments.at(-1),
      segmentBytes: this.segmentBytes,
      batch,
      spares: this.spares,
    });
    for (const g of groups) {
      if (g.isNew) this.segments.push(g.segment);
      let position = g.segment.bytes;
      for (const [i, record] of g.records.entries()) {
        const bytes = (g.buffers[i] as Buffer).length;
        const disk =
          record.kind === 'checkpoint' ? NO_DISK : (this.diskIndex.get(record.diskId) ?? NO_DISK);
        addRecordRow(g.segment.records, record, position, bytes, disk);
        if (record.kind === 'checkpoint') this.retained.push(checkpointInfo(record));
        position += bytes;
      }
      g.segment.bytes = position;
    }
    if (groups.some((g) => g.isNew)) {
      // The segments before the new tail are done: cut the zeros their last O_DIRECT append
      // left (harmless if it fails: an open takes them for padding).
      for (const segment of this.segments.slice(-groups.length - 1, -1)) {
        await segment.trimPadding().catch((err: unknown) => {
          this.log.warn({ vpgId: this.vpgId, err }, 'journal: could not trim a segment');
        });
      }
    }
    const lastRecord = (batch.at(-1) as BatchItem).record;
    this.last = lastRecord.seq;
    this.newestSourceTime = lastRecord.sourceTime;
    if (this.onAppended !== undefined) {
      try {
        this.onAppended(batch.map((item) => item.record));
      } catch (err) {
        // A measurement's bug must not fail an append that is already durable.
        this.log.warn({ vpgId: this.vpgId, err }, 'journal: onAppended failed');
      }
    }
  }

  // ───────────────────────────── apply ─────────────────────────────

  /**
   * applyUpTo's body; the caller holds the replica lock exclusively. Returns how many
   * segments it released.
   */
  private async applyLocked(seq: number): Promise<number> {
    const target = Math.min(seq, this.last, pinLimit(this.pinned) ?? Infinity);
    if (target <= this.applied) return 0;
    const from = this.applied + 1;
    await writeReplicaState(this.dir, {
      version: 1,
      appliedSeq: this.applied,
      applyingTo: target,
      ...(this.retained[0]?.seq === this.applied && { appliedCheckpoint: this.retained[0] }),
    });
    const touched = await applyRecords({
      vpgId: this.vpgId,
      segments: this.segments,
      from,
      to: target,
      replicaFor: (diskId) => {
        const disk = this.diskIndex.get(diskId);
        return disk === undefined ? undefined : this.replicas[disk];
      },
      log: this.log,
    });
    await Promise.all([...touched].map((r) => r.sync()));
    this.applied = target;
    this.applyGeneration += 1;
    this.viewCache.clear();
    while (this.retained[0] !== undefined && this.retained[0].seq < target) this.retained.shift();
    const atTarget = this.retained[0]?.seq === target ? this.retained[0] : undefined;
    await writeReplicaState(this.dir, {
      version: 1,
      appliedSeq: target,
      ...(atTarget !== undefined && { appliedCheckpoint: atTarget }),
    });
    return this.releaseApplied();
  }

  /** Deletes segments holding only applied records (the one being appended to included). */
  private releaseApplied(): Promise<number> {
    return this.appendLock.exclusive(async () => {
      let released = 0;
      for (
        let s = this.segments[0];
        s !== undefined && s.lastSeq <= this.applied;
        s = this.segments[0]
      ) {
        await s.close();
        // Nobody reads it now (the locks): a spare is usable at once.
        (await this.spares.retire(s.path))?.usable();
        this.segments.shift();
        released += 1;
      }
      if (released > 0) await fsyncDirectory(this.dir);
      return released;
    });
  }

  private checkSizeWarning(): void {
    const bytes = this.totalBytes();
    const above = bytes > this.warningBytes;
    if (above === this.sizeWarning) return;
    this.sizeWarning = above;
    const event: SizeEvent = { vpgId: this.vpgId, bytes, warningBytes: this.warningBytes };
    if (above) {
      this.log.warn({ ...event }, 'journal above its warning size');
      this.emit('size-warning', event);
    } else {
      this.emit('size-normal', event);
    }
  }

  // ───────────────────────────── point in time ─────────────────────────────

  private checkPointInTime(seq: number, options: ViewOptions): void {
    const checkpoint = this.findCheckpoint(seq);
    if (checkpoint === undefined) {
      if (Number.isSafeInteger(seq) && seq < this.applied) {
        throw new CheckpointAppliedError(this.vpgId, seq, this.applied);
      }
      throw new UnknownCheckpointError(this.vpgId, String(seq));
    }
    if (checkpoint.inconsistent === true && options.allowInconsistent !== true) {
      throw new InconsistentCheckpointError(this.vpgId, seq);
    }
  }

  private findCheckpoint(seq: number): CheckpointInfo | undefined {
    let lo = 0;
    let hi = this.retained.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.retained[mid] as CheckpointInfo;
      if (c.seq === seq) return c;
      if (c.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The disk's extent map at checkpoint C (see extent-index.ts), cached until the next apply. */
  private view(disk: number, checkpointSeq: number): ExtentMap<SegmentFile> {
    const key = `${disk}:${checkpointSeq}`;
    const cached = this.viewCache.get(key);
    if (cached !== undefined) return cached;
    const map = this.resolveView(disk, checkpointSeq);
    if (this.viewCache.size >= VIEW_CACHE_ENTRIES) {
      const oldest = this.viewCache.keys().next().value;
      if (oldest !== undefined) this.viewCache.delete(oldest);
    }
    this.viewCache.set(key, map);
    return map;
  }

  private resolveView(disk: number, checkpointSeq: number): ExtentMap<SegmentFile> {
    return diskView({
      segments: this.segments,
      disk,
      afterSeq: this.applied,
      beforeSeq: checkpointSeq,
      sizeBytes: (this.replicas[disk] as ReplicaDisk).sizeBytes,
    });
  }

  // ───────────────────────────── helpers ─────────────────────────────

  private diskNumber(diskId: string): number {
    const disk = this.diskIndex.get(diskId);
    if (disk === undefined) {
      throw new UnknownDiskError(this.vpgId, diskId, [...this.diskIndex.keys()]);
    }
    return disk;
  }

  private totalBytes(): number {
    let bytes = 0;
    for (const s of this.segments) bytes += s.bytes;
    return bytes;
  }

  private newestRecordTime(): number | undefined {
    const s = this.segments.at(-1);
    return s === undefined || s.records.count === 0
      ? undefined
      : s.records.sourceTime[s.records.count - 1];
  }

  private assertOpen(): void {
    if (this.closing !== undefined || this.closed) throw new JournalClosedError(this.vpgId);
  }
}
