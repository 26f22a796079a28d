import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError, toTidelineError } from '../../app/errors';
import {
  MAX_RECORD_DATA,
  RECORD_HEADER_BYTES,
  RECORD_TRAILER_BYTES,
  type CheckpointRecord,
  type StreamRecord,
} from '../replication/record';
import { errnoMessage } from '../store/json-file';
import type { DiskFile } from '../tap/disk-file';
import type { ProtectedWriteSink, WriteOptions } from '../tap/tap';
import { drop } from '../util/drop';
import { applyRecord } from './apply-record';
import { DirtyBitmap, type BitmapOpenState } from './dirty-bitmap';
import { Outbox, type OutboxCommitMode, type OutboxOpenReport } from './outbox';
import { RegionGate, type GateTicket } from './region-gate';
import { SeedHolds, seedParts, type SeedOptions, type SeedResult } from './seed-region';
import { Sequencer } from './sequencer';
import { checkSafeId, readSourceMode, writeSourceMode, type SourceMode } from './source-state';

export interface VpgSourceOptions {
  readonly vpgId: string;
  /** The VPG's outbox directory, `<dataDir>/outbox/<vpgId>` (see outboxDir()). */
  readonly dir: string;
  /** The VPG's disks, opened by the tap (the tap owns and closes them). */
  readonly disks: readonly DiskFile[];
  /** Outbox size limit: past it the VPG switches to dirty bitmaps. */
  readonly limitBytes: number;
  readonly segmentBytes?: number;
  readonly commit?: OutboxCommitMode;
  readonly syncIntervalMs?: number;
  /** Automatic checkpoint period (default 5000 ms; 0 = none). */
  readonly checkpointIntervalMs?: number;
  readonly clock?: () => number;
  /** Dirty bitmap region size (default 64 KiB). */
  readonly regionBytes?: number;
}

export interface VpgSourceOpenReport extends OutboxOpenReport {
  /** Records re-applied to the disks (those above the disk-synced mark). */
  readonly redone: number;
  /** Records of disks that are no longer in the VPG, not re-applied. */
  readonly skippedRecords: number;
  readonly mode: SourceMode;
  readonly bitmaps: Readonly<Record<string, BitmapOpenState>>;
}

export interface VpgSourceStatus {
  readonly vpgId: string;
  readonly mode: SourceMode;
  /** Highest seq handed out. */
  readonly lastSeq: number;
  readonly appliedSeq: number;
  readonly ackedSeq: number;
  readonly backlogBytes: number;
  readonly limitBytes: number;
  /** Bytes of disk marked dirty (to resync). */
  readonly dirtyBytes: number;
  /** Bytes of data accepted from the VM since open (for bytes/s written). */
  readonly bytesAccepted: number;
  readonly inconsistent: boolean;
  readonly fault?: string;
  /**
   * The outbox failed (the VPG went to bitmap mode); `noSpace`: its file system was full, and
   * recoverOutbox() takes records again once it has room.
   */
  readonly outboxFailed?: { readonly message: string; readonly noSpace: boolean };
}

export interface VpgSourceEvents {
  mode: [mode: SourceMode, reason: string];
  /** The pipeline failed; requests are refused until the source is reopened. */
  fault: [error: TidelineError];
  /** A checkpoint was sequenced (emitted synchronously, before insertCheckpoint returns). */
  checkpoint: [record: CheckpointRecord];
}

type Part =
  | { readonly kind: 'write'; readonly offset: number; readonly data: Buffer }
  | { readonly kind: 'zero' | 'trim'; readonly offset: number; readonly length: number };

export function outboxDir(dataDir: string, vpgId: string): string {
  checkSafeId(vpgId, 'VPG id');
  return join(dataDir, 'outbox', vpgId);
}

/**
 * The source side of one VPG: the pipeline every request to its disks goes through.
 *
 *   queue mode:  sequence → outbox append → (wait for earlier overlapping requests) → disk
 *                write → applied watermark → resolve
 *   bitmap mode: mark the regions dirty (durable) → disk write → resolve
 *
 * Sequencing, the outbox append and entering the region gate happen in one synchronous step,
 * so the outbox is in seq order and overlapping disk writes land in seq order: the disk always
 * equals the replay of the stream. On open, records above the disk-synced mark are redone.
 */
export class VpgSource extends EventEmitter<VpgSourceEvents> implements ProtectedWriteSink {
  readonly outbox: Outbox;
  private sequencerValue: Sequencer | undefined;
  /** Grows and shrinks with vpg.addVm / vpg.removeVm (addDisk, removeDisk). */
  private readonly disks: Map<string, DiskFile>;
  private readonly bitmaps = new Map<string, DirtyBitmap>();
  private readonly gate = new RegionGate();
  private readonly holds = new SeedHolds();
  private modeValue: SourceMode = 'queue';
  private transition: Promise<void> | undefined;
  private broken: TidelineError | undefined;
  private engineInconsistent = false;
  /** Requests between acceptance and their disk write (queue mode: unless the append failed). */
  private inFlight = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly unsyncedDisks = new Set<DiskFile>();
  private accepted = 0;
  private opened = false;

  constructor(private readonly options: VpgSourceOptions) {
    super();
    checkSafeId(options.vpgId, 'VPG id');
    for (const disk of options.disks) checkSafeId(disk.diskId, 'Disk id');
    this.disks = new Map(options.disks.map((d) => [d.diskId, d]));
    this.outbox = new Outbox({
      dir: options.dir,
      vpgId: options.vpgId,
      limitBytes: options.limitBytes,
      ...(options.segmentBytes !== undefined && { segmentBytes: options.segmentBytes }),
      ...(options.commit !== undefined && { commit: options.commit }),
      ...(options.syncIntervalMs !== undefined && { syncIntervalMs: options.syncIntervalMs }),
      syncData: () => this.syncDisks(),
    });
  }

  /**
   * Opens the outbox (cutting a torn tail), redoes every record above the disk-synced mark so
   * each disk equals the replay of its stream, opens the dirty bitmaps, and starts sequencing.
   */
  async open(): Promise<VpgSourceOpenReport> {
    const report = await this.outbox.open();
    try {
      return await this.openAfterOutbox(report);
    } catch (err) {
      await Promise.allSettled([
        this.outbox.close(),
        ...[...this.bitmaps.values()].map((b) => b.close()),
      ]);
      this.bitmaps.clear();
      throw err;
    }
  }

  private async openAfterOutbox(report: OutboxOpenReport): Promise<VpgSourceOpenReport> {
    let skipped = 0;
    const redone = await this.outbox.redo(async (record) => {
      if (record.kind === 'checkpoint') return;
      const disk = this.disks.get(record.diskId);
      if (disk === undefined) {
        skipped += 1;
        return;
      }
      await applyRecord(disk, record);
    });
    if (redone > 0) {
      await this.syncDisks();
      await this.outbox.setDiskSynced(this.outbox.writtenSeq);
    }
    let mode = await readSourceMode(this.options.dir);
    const states: Record<string, BitmapOpenState> = {};
    for (const disk of this.disks.values()) {
      const bitmap = await DirtyBitmap.open({
        path: join(this.options.dir, `dirty-${disk.diskId}.bitmap`),
        diskSize: disk.size,
        ...(this.options.regionBytes !== undefined && { regionBytes: this.options.regionBytes }),
      });
      this.bitmaps.set(disk.diskId, bitmap);
      states[disk.diskId] = bitmap.openState;
      // A bitmap lost while writes were only being marked: every region may differ.
      if (mode === 'bitmap' && bitmap.openState === 'created') await bitmap.markAll();
    }
    if (report.diskMayBeAhead) {
      // A host crash in 'write' commit mode: the disks may hold writes whose records were lost.
      for (const bitmap of this.bitmaps.values()) await bitmap.markAll();
      if (mode !== 'bitmap') await writeSourceMode(this.options.dir, 'bitmap');
      mode = 'bitmap';
    }
    this.modeValue = mode;
    this.sequencerValue = new Sequencer({
      vpgId: this.options.vpgId,
      firstSeq: this.outbox.lastSeq + 1,
      ...(this.options.clock !== undefined && { clock: this.options.clock }),
      ...(this.options.checkpointIntervalMs !== undefined && {
        checkpointIntervalMs: this.options.checkpointIntervalMs,
      }),
      onCheckpoint: (record) => {
        drop(
          this.outbox.append(record).then(() => this.outbox.markApplied(record.seq)),
          () => undefined, // a failed append is reported by the outbox's 'failed' event
        );
        this.emit('checkpoint', record);
      },
    });
    this.applyFlags();
    this.outbox.on('failed', (err) => {
      this.emit('fault', err);
      drop(this.enterBitmapMode('outbox failed'), () => undefined);
    });
    this.sequencerValue.start();
    this.opened = true;
    return { ...report, redone, skippedRecords: skipped, mode, bitmaps: states };
  }

  get vpgId(): string {
    return this.options.vpgId;
  }

  get mode(): SourceMode {
    return this.modeValue;
  }

  get sequencer(): Sequencer {
    if (this.sequencerValue === undefined) throw this.notOpen();
    return this.sequencerValue;
  }

  bitmap(diskId: string): DirtyBitmap {
    const bitmap = this.bitmaps.get(diskId);
    if (bitmap === undefined) {
      throw new TidelineError('NOT_FOUND', `Disk ${diskId} is not in VPG ${this.options.vpgId}`);
    }
    return bitmap;
  }

  /** Sequences a checkpoint (optionally named) and returns its seq at once. */
  insertCheckpoint(name?: string): number {
    if (this.broken !== undefined) throw this.broken;
    const failed = this.outbox.failed;
    if (failed !== undefined) throw failed;
    return this.sequencer.insertCheckpoint(name);
  }

  /** The engine marks the VPG as seeding or resyncing (its checkpoints are not images). */
  setInconsistent(inconsistent: boolean): void {
    this.engineInconsistent = inconsistent;
    this.applyFlags();
  }

  status(): VpgSourceStatus {
    let dirtyBytes = 0;
    for (const bitmap of this.bitmaps.values()) dirtyBytes += bitmap.dirtyBytes;
    return {
      vpgId: this.options.vpgId,
      mode: this.modeValue,
      lastSeq: this.sequencerValue?.lastSeq ?? this.outbox.lastSeq,
      appliedSeq: this.outbox.appliedSeq,
      ackedSeq: this.outbox.ackedSeq,
      backlogBytes: this.outbox.backlogBytes,
      limitBytes: this.outbox.limitBytes,
      dirtyBytes,
      bytesAccepted: this.accepted,
      inconsistent: this.sequencerValue?.inconsistent ?? false,
      ...(this.broken !== undefined && { fault: this.broken.message }),
      ...(this.outbox.failed !== undefined && {
        outboxFailed: { message: this.outbox.failed.message, noSpace: this.outbox.failedForSpace },
      }),
    };
  }

  /**
   * The outbox failed for lack of space and its file system has room again: it takes records
   * again. The VPG stays in bitmap mode (the engine resumes streaming for the resync). Returns
   * the last seq the outbox holds: the seqs handed out after it went to appends that failed
   * (the region of each is dirty) and are handed out again, so checkpoints learned above it
   * never existed. Throws while there is still no room.
   */
  async recoverOutbox(): Promise<number> {
    while (this.transition !== undefined) await this.transition;
    if (this.broken !== undefined) throw this.broken;
    if (this.outbox.failed === undefined) return this.outbox.writtenSeq;
    // In bitmap mode no seq is handed out (checkpoints are refused while the outbox failed).
    if (this.modeValue !== 'bitmap') throw new Error('outbox failed outside bitmap mode');
    const last = await this.outbox.recover();
    this.sequencer.rewindTo(last);
    return last;
  }

  async write(disk: DiskFile, offset: number, data: Buffer, options?: WriteOptions): Promise<void> {
    if (data.length === 0) return;
    const parts: Part[] = [];
    for (let at = 0; at < data.length; at += MAX_RECORD_DATA) {
      parts.push({
        kind: 'write',
        offset: offset + at,
        data: data.subarray(at, at + MAX_RECORD_DATA),
      });
    }
    await this.submit(disk, parts, data.length, options);
  }

  async zero(
    disk: DiskFile,
    offset: number,
    length: number,
    kind: 'zero' | 'trim',
    options?: WriteOptions,
  ): Promise<void> {
    if (length === 0) return;
    await this.submit(disk, [{ kind, offset, length }], 0, options);
  }

  /** Every acknowledged request of this VPG is durable (outbox records, bitmap-mode writes). */
  async flush(): Promise<void> {
    if (this.broken !== undefined) throw this.broken;
    await this.outbox.sync();
    // A failed outbox stops syncing: its written records are durable once the switch to
    // bitmap mode (started when it failed) has synced the disks.
    while (this.transition !== undefined) await this.transition;
    if (this.broken !== undefined) throw this.broken;
    const disks = [...this.unsyncedDisks];
    this.unsyncedDisks.clear();
    try {
      await Promise.all(disks.map((d) => d.datasync()));
    } catch (err) {
      for (const d of disks) this.unsyncedDisks.add(d);
      throw err;
    }
  }

  /** The target persisted every record up to `uptoSeq`. */
  async release(uptoSeq: number): Promise<void> {
    await this.outbox.release(uptoSeq);
  }

  /**
   * Back to records after bitmap mode (the engine calls it once the backlog has drained, just
   * before resyncing the dirty regions). Checkpoints stay inconsistent until the engine says
   * the resync is complete (setInconsistent(false)).
   */
  async resumeStreaming(): Promise<void> {
    while (this.transition !== undefined) await this.transition;
    if (this.modeValue === 'queue') return;
    const failed = this.outbox.failed;
    if (failed !== undefined) {
      throw new TidelineError(
        'CONFLICT',
        `The outbox of VPG ${this.options.vpgId} failed (${failed.message}); ` +
          'reopen the VPG source before resuming replication',
      );
    }
    // Requests arriving meanwhile wait for the switch, as for enterBitmapMode. A bitmap-mode
    // write is in no region gate: one still in flight once the mode says queue could land
    // after the resync read its region, found it equal and cleared its mark, and be lost.
    const switching = this.switchToQueue();
    // The caller gets the error; waiting requests go on in bitmap mode.
    drop(
      this.runTransition(
        switching,
        () => undefined,
        () => this.applyFlags(),
      ),
      () => undefined,
    );
    await switching;
  }

  private async switchToQueue(): Promise<void> {
    await this.drained();
    await writeSourceMode(this.options.dir, 'queue');
    this.engineInconsistent = true;
    this.modeValue = 'queue';
    this.applyFlags();
    this.emit('mode', 'queue', 'resumed');
  }

  /**
   * Initial sync and resync: reads [offset, offset + length) of a disk and sequences its
   * content as `seed` records (zero runs skipped, or sent as `zero` records), atomically with
   * respect to the VM's writes to that extent. Requests to the extent that were sequenced
   * before have reached the disk before it is read (region gate); requests arriving meanwhile
   * are sequenced after the seed records (they wait before taking a seq). So applying the
   * stream in seq order is right: a seed carries every earlier write, a later write wins.
   * Queue mode only (CONFLICT otherwise).
   */
  async seed(
    diskId: string,
    offset: number,
    length: number,
    options: SeedOptions,
  ): Promise<SeedResult> {
    const disk = await this.queueModeDisk(diskId, 'seeding');
    disk.checkExtent(offset, length);
    if (length === 0) return { records: 0, dataBytes: 0 };
    // One synchronous step: hold off new requests to the extent, wait for earlier ones.
    const release = this.holds.hold(diskId, offset, length);
    const ticket = this.gate.enter(diskId, offset, length);
    this.inFlight += 1;
    try {
      if (ticket.ready !== undefined) await ticket.ready;
      const data = await disk.pread(offset, length);
      if (this.broken !== undefined) throw this.broken;
      const failed = this.outbox.failed;
      if (failed !== undefined) throw failed;
      // One synchronous step again: every part gets its seq and is queued in the outbox.
      const sequencer = this.sequencer;
      const appended: Promise<void>[] = [];
      let dataBytes = 0;
      const parts = seedParts(data, offset, options);
      for (const part of parts) {
        const { seq, sourceTime } = sequencer.next();
        const record: StreamRecord =
          part.kind === 'seed'
            ? {
                vpgId: this.options.vpgId,
                seq,
                sourceTime,
                kind: 'seed',
                diskId,
                offset: part.offset,
                data: part.data,
              }
            : {
                vpgId: this.options.vpgId,
                seq,
                sourceTime,
                kind: 'zero',
                diskId,
                offset: part.offset,
                length: part.length,
              };
        if (part.kind === 'seed') dataBytes += part.data.length;
        appended.push(this.outbox.append(record).then(() => this.outbox.markApplied(seq)));
      }
      release();
      ticket.leave();
      await settleAll(appended);
      return { records: parts.length, dataBytes };
    } finally {
      release();
      ticket.leave();
      this.requestDone();
    }
  }

  /**
   * Delta sync: reads extents of a disk atomically with respect to the VM's writes (as seed()
   * does: earlier overlapping requests have reached the disk, later ones wait before taking a
   * seq) and returns the seq of that instant: the extents hold exactly the result of every
   * record up to `seq`. Queue mode only (CONFLICT otherwise).
   */
  async readExtents(
    diskId: string,
    extents: readonly { readonly offset: number; readonly length: number }[],
  ): Promise<{ seq: number; data: Buffer[] }> {
    const disk = await this.queueModeDisk(diskId, 'comparing');
    for (const e of extents) disk.checkExtent(e.offset, e.length);
    // One synchronous step: hold off new requests to the extents, wait for earlier ones.
    const releases = extents.map((e) => this.holds.hold(diskId, e.offset, e.length));
    const tickets = extents.map((e) => this.gate.enter(diskId, e.offset, e.length));
    this.inFlight += 1;
    try {
      await Promise.all(tickets.map((t) => t.ready));
      const data = await Promise.all(extents.map((e) => disk.pread(e.offset, e.length)));
      if (this.broken !== undefined) throw this.broken;
      return { seq: this.sequencer.lastSeq, data };
    } finally {
      for (const release of releases) release();
      for (const ticket of tickets) ticket.leave();
      this.requestDone();
    }
  }

  /** Seeding and delta compares read through the tap in queue mode only (CONFLICT otherwise). */
  private async queueModeDisk(diskId: string, what: 'seeding' | 'comparing'): Promise<DiskFile> {
    if (!this.opened) throw this.notOpen();
    while (this.transition !== undefined) await this.transition;
    if (this.broken !== undefined) throw this.broken;
    if (this.modeValue !== 'queue') {
      throw new TidelineError(
        'CONFLICT',
        `VPG ${this.options.vpgId} keeps dirty regions instead of records: resume streaming before ${what}`,
      );
    }
    const disk = this.disks.get(diskId);
    if (disk === undefined) {
      throw new TidelineError('NOT_FOUND', `Disk ${diskId} is not in VPG ${this.options.vpgId}`);
    }
    return disk;
  }

  /**
   * vpg.addVm: a disk joins the VPG's one sequence (the caller then protects it in the tap and
   * seeds its content). In bitmap mode every region of it is dirty.
   */
  async addDisk(disk: DiskFile): Promise<void> {
    if (!this.opened) throw this.notOpen();
    checkSafeId(disk.diskId, 'Disk id');
    if (this.disks.has(disk.diskId)) {
      throw new TidelineError(
        'ALREADY_EXISTS',
        `Disk ${disk.diskId} is already in VPG ${this.vpgId}`,
      );
    }
    const bitmap = await DirtyBitmap.open({
      path: join(this.options.dir, `dirty-${disk.diskId}.bitmap`),
      diskSize: disk.size,
      ...(this.options.regionBytes !== undefined && { regionBytes: this.options.regionBytes }),
    });
    if (this.modeValue === 'bitmap') await bitmap.markAll();
    this.bitmaps.set(disk.diskId, bitmap);
    this.disks.set(disk.diskId, disk);
  }

  /**
   * vpg.removeVm: a disk leaves the VPG. The caller has unprotected it in the tap first, so no
   * new request reaches this pipeline; the ones already sequenced reach the disk (region gate),
   * which is then made durable (its records stay in the outbox and a redo skips them).
   */
  async removeDisk(diskId: string): Promise<void> {
    const disk = this.disks.get(diskId);
    if (disk === undefined) return;
    const ticket = this.gate.enter(diskId, 0, disk.size);
    try {
      if (ticket.ready !== undefined) await ticket.ready;
    } finally {
      ticket.leave();
    }
    if (this.modeValue === 'bitmap') await this.drained();
    await disk.datasync();
    this.disks.delete(diskId);
    this.unsyncedDisks.delete(disk);
    const bitmap = this.bitmaps.get(diskId);
    this.bitmaps.delete(diskId);
    await bitmap?.close();
    await rm(join(this.options.dir, `dirty-${diskId}.bitmap`), { force: true });
  }

  /** Stops sequencing, waits for requests in flight, makes the disks durable, closes files. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    this.sequencerValue?.stop();
    while (this.transition !== undefined) await this.transition;
    await this.drained();
    if (this.broken === undefined) {
      await this.syncDisks();
      // A clean stop leaves nothing to redo.
      if (this.outbox.failed === undefined) {
        await this.outbox.setDiskSynced(this.outbox.writtenSeq);
      }
    }
    await this.outbox.close();
    await Promise.allSettled([...this.bitmaps.values()].map((b) => b.close()));
    this.bitmaps.clear();
  }

  // ---- the pipeline ----

  private async submit(
    disk: DiskFile,
    parts: readonly Part[],
    dataBytes: number,
    options: WriteOptions | undefined,
  ): Promise<void> {
    if (!this.opened) throw this.notOpen();
    for (;;) {
      if (this.transition !== undefined) await this.transition;
      else {
        // A seed of an overlapping region is reading it: sequence after its records.
        const held = this.holds.overlapping(disk.diskId, parts.map(partExtent));
        if (held === undefined) break;
        await held;
      }
    }
    if (this.broken !== undefined) throw this.broken;
    if (this.disks.get(disk.diskId) !== disk) {
      throw new TidelineError('UNAVAILABLE', `Disk ${disk.diskId} left VPG ${this.options.vpgId}`);
    }
    if (this.modeValue === 'bitmap') return this.submitToBitmap(disk, parts, dataBytes, options);
    const bytes = parts.reduce((n, p) => n + this.encodedBytes(disk, p), 0);
    if (this.outbox.failed !== undefined || !this.outbox.hasRoom(bytes)) {
      drop(this.enterBitmapMode(this.outbox.failed ? 'outbox failed' : 'outbox limit'), () => {
        // enterBitmapMode records its own failure in `broken`
      });
      return this.submit(disk, parts, dataBytes, options);
    }
    // One synchronous step per part: seq, outbox append, place in the region gate.
    const sequencer = this.sequencer;
    const ops: Promise<void>[] = [];
    for (const part of parts) {
      const { seq, sourceTime } = sequencer.next();
      const record = toRecord(this.options.vpgId, seq, sourceTime, disk.diskId, part);
      const appended = this.outbox.append(record);
      const ticket = this.gate.enter(disk.diskId, part.offset, partLength(part));
      this.inFlight += 1;
      ops.push(this.applyQueued(disk, record, appended, ticket));
    }
    this.accepted += dataBytes;
    await settleAll(ops);
    if (options?.fua === true) await this.outbox.sync();
  }

  private async applyQueued(
    disk: DiskFile,
    record: StreamRecord & { kind: 'write' | 'zero' | 'trim' },
    appended: Promise<void>,
    ticket: GateTicket,
  ): Promise<void> {
    let counted = true;
    try {
      try {
        await appended;
      } catch {
        // The outbox failed: the record is not in it. The write still happens, as a bitmap-mode
        // write, once the switch to bitmap mode has made that safe.
        counted = false;
        this.requestDone();
        await this.enterBitmapMode('outbox failed');
        if (this.broken !== undefined) throw this.broken;
        // In flight again, as a bitmap-mode write: a resume waits for it (resumeStreaming).
        this.inFlight += 1;
        counted = true;
        if (ticket.ready !== undefined) await ticket.ready;
        const length = record.kind === 'write' ? record.data.length : record.length;
        await this.bitmap(disk.diskId).mark(record.offset, length);
        await applyRecord(disk, record);
        this.unsyncedDisks.add(disk);
        return;
      }
      if (ticket.ready !== undefined) await ticket.ready;
      try {
        await applyRecord(disk, record);
      } catch (err) {
        // The record is in the outbox but not on the disk: stop here (the applied watermark
        // holds, so the target never gets what the source lacks); a reopen redoes it.
        throw this.fail(
          `Disk ${disk.diskId} of VPG ${this.options.vpgId} cannot be written ` +
            `(${errnoMessage(err)}); the VPG refuses writes until its source is reopened`,
        );
      }
      this.outbox.markApplied(record.seq);
    } finally {
      ticket.leave();
      if (counted) this.requestDone();
    }
  }

  private async submitToBitmap(
    disk: DiskFile,
    parts: readonly Part[],
    dataBytes: number,
    options: WriteOptions | undefined,
  ): Promise<void> {
    this.inFlight += 1;
    try {
      const bitmap = this.bitmap(disk.diskId);
      // Dirty on stable storage before the disk write, so before the VM's ack.
      await Promise.all(parts.map((p) => bitmap.mark(p.offset, partLength(p))));
      for (const part of parts) {
        if (part.kind === 'write') await disk.pwrite(part.data, part.offset);
        else await disk.writeZeroes(part.offset, part.length);
      }
      this.accepted += dataBytes;
      if (options?.fua === true) await disk.datasync();
      else this.unsyncedDisks.add(disk);
    } finally {
      this.requestDone();
    }
  }

  /**
   * Switches to bitmap mode. Before the first bitmap-mode write may reach a disk, every
   * outbox record must be applied and durable on the disks, with the disk-synced mark saved:
   * otherwise a redo after a crash would write an old record over a newer bitmap-mode write.
   * Requests arriving meanwhile wait for the switch.
   */
  private enterBitmapMode(reason: string): Promise<void> {
    if (this.modeValue === 'bitmap') return Promise.resolve();
    if (this.transition !== undefined) return this.transition;
    if (this.sequencerValue !== undefined) this.sequencerValue.automaticCheckpoints = false;
    return this.runTransition(this.switchToBitmap(reason), (err) => {
      this.fail(
        `VPG ${this.options.vpgId} could not switch to dirty-region tracking ` +
          `(${toTidelineError(err, errnoMessage(err)).message}); writes are refused until ` +
          'its source is reopened',
      );
    });
  }

  /**
   * A mode switch that requests wait for (`transition`): `onError` settles its failure for
   * them, `after` runs once it is over, whichever way.
   */
  private runTransition(
    work: Promise<void>,
    onError: (err: unknown) => void,
    after?: () => void,
  ): Promise<void> {
    this.transition = work.catch(onError).finally(() => {
      this.transition = undefined;
      after?.();
    });
    return this.transition;
  }

  private async switchToBitmap(reason: string): Promise<void> {
    await this.drained();
    await this.syncDisks();
    await this.outbox.setDiskSynced(this.outbox.writtenSeq);
    await writeSourceMode(this.options.dir, 'bitmap');
    this.modeValue = 'bitmap';
    this.applyFlags();
    this.emit('mode', 'bitmap', reason);
  }

  // ---- helpers ----

  private async syncDisks(): Promise<number> {
    const applied = this.outbox.appliedSeq;
    await Promise.all([...this.disks.values()].map((d) => d.datasync()));
    return applied;
  }

  private applyFlags(): void {
    const sequencer = this.sequencerValue;
    if (sequencer === undefined) return;
    sequencer.automaticCheckpoints = this.modeValue === 'queue' && this.transition === undefined;
    sequencer.inconsistent = this.engineInconsistent || this.modeValue !== 'queue';
  }

  private requestDone(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  private drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private encodedBytes(disk: DiskFile, part: Part): number {
    return (
      RECORD_HEADER_BYTES +
      Buffer.byteLength(this.options.vpgId) +
      Buffer.byteLength(disk.diskId) +
      (part.kind === 'write' ? part.data.length : 0) +
      RECORD_TRAILER_BYTES
    );
  }

  private fail(message: string): TidelineError {
    if (this.broken === undefined) {
      this.broken = new TidelineError('INTERNAL_ERROR', message, { vpgId: this.options.vpgId });
      this.emit('fault', this.broken);
    }
    return this.broken;
  }

  private notOpen(): TidelineError {
    return new TidelineError('UNAVAILABLE', `The source of VPG ${this.options.vpgId} is not open`);
  }
}

function partExtent(part: Part): { offset: number; length: number } {
  return { offset: part.offset, length: partLength(part) };
}

function partLength(part: Part): number {
  return part.kind === 'write' ? part.data.length : part.length;
}

function toRecord(
  vpgId: string,
  seq: number,
  sourceTime: number,
  diskId: string,
  part: Part,
): StreamRecord & { kind: 'write' | 'zero' | 'trim' } {
  return part.kind === 'write'
    ? { vpgId, seq, sourceTime, kind: 'write', diskId, offset: part.offset, data: part.data }
    : { vpgId, seq, sourceTime, kind: part.kind, diskId, offset: part.offset, length: part.length };
}

/** Waits for every promise; rethrows the first failure (none is left unhandled). */
async function settleAll(ops: readonly Promise<void>[]): Promise<void> {
  if (ops.length === 0) return;
  if (ops.length === 1) return ops[0];
  const results = await Promise.allSettled(ops);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
