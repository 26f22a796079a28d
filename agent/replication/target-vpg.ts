import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TidelineError, isTidelineError } from '../../app/errors';
import { currentRpoSeconds, rpoMet, type CheckpointInfo, type VpgStatus } from '../../app/protocol';
import { JournalDiskFullError, JournalGapError } from '../journal/errors';
import type { ImageResult } from '../journal/export';
import { Journal } from '../journal/journal';
import type { ExportOptions, RetentionResult } from '../journal/journal-types';
import { journalDirFor } from '../journal/layout';
import type { CheckpointInfo as JournalCheckpoint } from '../journal/state-files';
import type { Logger } from '../log';
import type { ReceivedRecord } from '../peer/peer-link';
import { DISK_FULL_CHECK_MS, DISK_FULL_RESUME_BYTES, freeBytes } from '../util/disk-space';
import { drop } from '../util/drop';
import type { StoredVpg } from './vpg-store';
import type { TargetUsage } from './vpg-control';
import { answerHashes, type HashesParams, type HashesResult } from './hash-control';
import { ChangeFigures } from './change-figures';
import { OncePer } from '../util/once-per';

/** A retention pass at the recovery site: the journal's result, and the receive side's. */
export interface TargetRetention extends RetentionResult {
  /** Records wait for apply to free room (past holdThreshold): the source's RPO grows. */
  readonly recordsHeld: boolean;
}

export interface TargetVpgOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Period of journal.enforceRetention (default 10 s). */
  readonly retentionIntervalMs?: number;
  /** Each retention pass's result, for journal alerts (agent/alerts). */
  readonly onRetention?: (vpg: StoredVpg, result: TargetRetention, time: number) => void;
  /** The journal's disk filled up (a message) or has room again (undefined): for an alert. */
  readonly onDiskFull?: (vpg: StoredVpg, message: string | undefined, time: number) => void;
}

/** `<replicaDir>/<diskId>.raw`; by default `<dataDir>/datastores/<ds>/replicas/<vpgId>/`. */
export function replicaPath(dataDir: string, vpg: StoredVpg, diskId: string): string {
  const dir =
    vpg.replicaDir ?? join(dataDir, 'datastores', vpg.recoveryDatastore, 'replicas', vpg.vpgId);
  return join(dir, `${diskId}.raw`);
}

/** A failover holds the VPG at the recovery site: its status, and whether records wait. */
export interface RecoveryHold {
  readonly status: VpgStatus;
  readonly message?: string;
  /** Records of the VPG are refused (live failover): the source resends them once released. */
  readonly pauseStream: boolean;
}

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** How often an append may look at the journal's size against its hard limit. */
const LIMIT_CHECK_MS = 250;
/** Past the hard limit by this much (at most), records wait for apply: see roomForRecords. */
const HOLD_MARGIN_BYTES = 64 * 1024 * 1024;
/** While records wait, how often the wait looks again whether apply was held meanwhile. */
const HOLD_RECHECK_MS = 1000;

/** How far past its hard limit a journal may grow before records wait for apply. */
export function holdThreshold(hardLimitBytes: number): number {
  return hardLimitBytes + Math.min(HOLD_MARGIN_BYTES, Math.floor(hardLimitBytes / 8));
}

/**
 * The recovery site's side of one VPG: its journal (records in seq order, durable before
 * the ACK), the replica disks in the recovery datastore, and periodic retention.
 */
export class TargetVpg {
  private retentionTimer: NodeJS.Timeout | undefined;
  /** The retention pass running, and whether another was asked for meanwhile. */
  private retentionRun: Promise<void> | undefined;
  private retentionAgain = false;
  private readonly limitCheck = new OncePer(LIMIT_CHECK_MS);
  /** Warnings that passes and held receives would repeat: once a retention tick. */
  private readonly limitWarning: OncePer;
  private readonly holdWarning: OncePer;
  /** Receives roomForRecords is making wait. */
  private waiting = 0;
  private failure: TidelineError | undefined;
  private waiters: Waiter[] = [];
  private closing = false;
  private hold: RecoveryHold | undefined;
  /** Where to ask for the records refused while the stream was paused. */
  private resendFrom: ((seq: number) => void) | undefined;
  /** The journal's disk is full: records wait at the source until there is room again. */
  private diskFull:
    | { readonly error: JournalDiskFullError; resend: (seq: number) => void; timer: NodeJS.Timeout }
    | undefined;

  private constructor(
    private vpgValue: StoredVpg,
    private readonly journal: Journal,
    /** The clean-point signal of each checkpoint (change-figures.ts). */
    private readonly change: ChangeFigures,
    private readonly options: TargetVpgOptions,
  ) {
    const tick = options.retentionIntervalMs ?? 10_000;
    this.limitWarning = new OncePer(tick);
    this.holdWarning = new OncePer(tick);
  }

  /** Opens (or creates) the journal and replicas, and starts retention. */
  static async open(vpg: StoredVpg, options: TargetVpgOptions): Promise<TargetVpg> {
    const log = options.log.child({ vpgId: vpg.vpgId });
    // Retired disks stay until their last records are in (vpg-changes.ts).
    const disks = [...vpg.disks, ...(vpg.retiredDisks ?? [])];
    let figures: ChangeFigures | undefined;
    const journal = await Journal.open({
      dir: journalDirFor(options.dataDir, vpg.vpgId),
      vpgId: vpg.vpgId,
      disks: disks.map((d) => ({
        diskId: d.diskId,
        sizeBytes: d.sizeBytes,
        replicaPath: replicaPath(options.dataDir, vpg, d.diskId),
      })),
      historyMs: vpg.journal.historySeconds * 1000,
      hardLimitBytes: vpg.journal.hardLimitBytes,
      warningBytes: vpg.journal.warningBytes,
      log,
      onAppended: (records) => figures?.measure(records),
    });
    try {
      figures = await ChangeFigures.open(journal, disks, log);
    } catch (err) {
      await journal.close();
      throw err;
    }
    const target = new TargetVpg(vpg, journal, figures, { ...options, log });
    target.start();
    // A full-disk alert from before a restart: the next append raises it again if need be.
    options.onDiskFull?.(vpg, undefined, Date.now());
    return target;
  }

  /** Deletes the journal directory and the replica disks of a VPG (after close). */
  static async destroy(dataDir: string, vpg: StoredVpg): Promise<void> {
    await rm(journalDirFor(dataDir, vpg.vpgId), { recursive: true, force: true });
    const first = vpg.disks[0];
    if (first !== undefined) {
      await rm(dirname(replicaPath(dataDir, vpg, first.diskId)), { recursive: true, force: true });
    }
  }

  get vpgId(): string {
    return this.vpgValue.vpgId;
  }

  get vpg(): StoredVpg {
    return this.vpgValue;
  }

  /** vpg.update of what the journal does not use (name, RPO target, checkpoint interval). */
  setVpg(vpg: StoredVpg): void {
    this.vpgValue = vpg;
  }

  /** The VPG's journal, for its recovered disks (agent/recovery pins and views it). */
  get openJournal(): Journal {
    return this.journal;
  }

  get position(): number {
    return this.journal.lastSeq;
  }

  /** Set by a failover (agent/recovery); undefined releases it (paused records are resent). */
  setRecoveryHold(hold: RecoveryHold | undefined): void {
    const wasPaused = this.hold?.pauseStream === true;
    this.hold = hold;
    if (!wasPaused || hold?.pauseStream === true) return;
    const resend = this.resendFrom;
    this.resendFrom = undefined;
    resend?.(this.journal.lastSeq);
  }

  get fault(): TidelineError | undefined {
    return this.failure;
  }

  /**
   * Persists received records (duplicates skipped) and returns the last persisted seq, which
   * the link sends as ACK. A gap is answered with POSITION (`sendPosition`) so the source
   * rewinds; a failed journal puts this VPG in Error without cutting the link's other VPGs.
   */
  async receive(
    records: readonly ReceivedRecord[],
    sendPosition: (seq: number) => void,
  ): Promise<number> {
    await this.roomForRecords();
    if (this.closing || this.failure !== undefined) return this.journal.lastSeq;
    if (this.diskFull !== undefined) {
      this.diskFull.resend = sendPosition;
      return this.journal.lastSeq;
    }
    if (this.hold?.pauseStream === true) {
      this.resendFrom = sendPosition;
      return this.journal.lastSeq;
    }
    try {
      // The link verified each record's checksum while splitting the frame: not again here.
      const { lastSeq } = await this.journal.appendDecoded(records);
      this.wake(lastSeq);
      this.checkHardLimit();
      return lastSeq;
    } catch (err) {
      if (err instanceof JournalGapError) {
        this.options.log.warn(
          { expected: err.expected, got: err.got },
          'records arrived out of sequence: asking the source to resend',
        );
        sendPosition(this.journal.lastSeq);
        return this.journal.lastSeq;
      }
      if (this.closing) return this.journal.lastSeq;
      if (err instanceof JournalDiskFullError) {
        this.pauseForFullDisk(err, sendPosition);
        return this.journal.lastSeq;
      }
      this.failure = isTidelineError(err)
        ? err
        : new TidelineError('INTERNAL_ERROR', `The journal of VPG ${this.vpgId} failed`);
      this.options.log.error({ err }, 'journal refused records: the VPG is in Error');
      return this.journal.lastSeq;
    }
  }

  checkpoints(): CheckpointInfo[] {
    return this.journal.checkpoints().map((c) => this.toInfo(c));
  }

  private toInfo(c: JournalCheckpoint): CheckpointInfo {
    const change = this.change.of(c.seq);
    return {
      vpgId: this.vpgId,
      seq: c.seq,
      sourceTime: c.sourceTime,
      ...(c.name !== undefined && { name: c.name }),
      ...(c.inconsistent === true && { inconsistent: true }),
      confirmed: true,
      ...(change !== undefined && { change }),
    };
  }

  /** The newest retained checkpoint (consistent or not). */
  latestCheckpoint(): CheckpointInfo | undefined {
    const c = this.journal.latestCheckpoint();
    return c === undefined ? undefined : this.toInfo(c);
  }

  /** The disk's image at a checkpoint as a raw file (journal/export.ts), for checkpoint.exportDisk. */
  exportDisk(
    diskId: string,
    checkpointSeq: number,
    outPath: string,
    options: ExportOptions,
  ): Promise<ImageResult> {
    return this.journal.exportDisk(diskId, checkpointSeq, outPath, options);
  }

  /** The journal's retained checkpoints in their wire form (for the source after a restart). */
  rawCheckpoints(): JournalCheckpoint[] {
    return this.journal.checkpoints();
  }

  usage(): TargetUsage {
    const usage = this.journal.usage();
    return {
      bytes: usage.bytes,
      hardLimitBytes: usage.hardLimitBytes,
      lastSeq: usage.lastSeq,
      appliedSeq: usage.appliedSeq,
    };
  }

  /** Status as the recovery site sees it: from the newest consistent checkpoint it holds. */
  liveStatus(now: number): { status: VpgStatus; rpoSeconds: number | undefined; message?: string } {
    const newest = this.journal.latestCheckpoint({ consistent: true });
    const rpoSeconds = currentRpoSeconds(now, newest?.sourceTime);
    if (this.failure !== undefined) {
      return { status: 'Error', rpoSeconds, message: this.failure.message };
    }
    if (this.diskFull !== undefined) {
      const status = rpoMet(rpoSeconds, this.vpg.rpoTargetSeconds) ? 'Protecting' : 'RpoNotMet';
      return { status, rpoSeconds, message: this.diskFull.error.message };
    }
    if (this.hold !== undefined) {
      return {
        status: this.hold.status,
        rpoSeconds,
        ...(this.hold.message !== undefined && { message: this.hold.message }),
      };
    }
    if (newest === undefined) return { status: 'Initializing', rpoSeconds };
    return {
      status: rpoMet(rpoSeconds, this.vpg.rpoTargetSeconds) ? 'Protecting' : 'RpoNotMet',
      rpoSeconds,
    };
  }

  /** Resolves once record `seq` is persisted here; TIMEOUT otherwise. */
  waitFor(seq: number, timeoutMs: number): Promise<void> {
    if (this.journal.lastSeq >= seq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new TidelineError(
            'TIMEOUT',
            `Record ${seq} of VPG ${this.vpgId} did not reach this recovery site within ${Math.round(timeoutMs / 1000)} s (it holds up to ${this.journal.lastSeq})`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = { seq, resolve, reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** vpg.hashes: block hashes of the journal's view as of a seq (delta sync, hash-control.ts). */
  hashes(params: HashesParams): Promise<HashesResult> {
    return answerHashes(
      {
        waitFor: (seq, ms) => this.waitFor(seq, ms),
        readAsOf: (diskId, extents, seq) => this.journal.readAsOf(diskId, extents, seq),
      },
      params,
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
    if (this.diskFull !== undefined) clearInterval(this.diskFull.timer);
    const closed = new TidelineError('UNAVAILABLE', `VPG ${this.vpgId} is closing on this agent`);
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(closed);
    }
    this.waiters = [];
    // Before the journal's lock goes: the memory is saved in its directory.
    await this.change.close();
    await this.journal.close();
  }

  /**
   * The journal's disk is full (the failed batch was undone: nothing is lost or torn). Records
   * are refused, and so stay in the source's outbox (or its dirty bitmaps), until the file
   * system has room again; then the source is asked to resend from the journal's end.
   */
  private pauseForFullDisk(error: JournalDiskFullError, resend: (seq: number) => void): void {
    if (this.diskFull !== undefined) {
      this.diskFull.resend = resend;
      return;
    }
    const timer = setInterval(
      () => drop(this.checkSpace(), (err) => this.options.log.warn({ err }, 'cannot check space')),
      DISK_FULL_CHECK_MS,
    );
    timer.unref();
    this.diskFull = { error, resend, timer };
    this.options.log.error(
      { dir: error.dir, resumeAtFreeBytes: DISK_FULL_RESUME_BYTES },
      'journal disk full: replication of the VPG paused until space is freed',
    );
    this.options.onDiskFull?.(this.vpg, error.message, Date.now());
  }

  private async checkSpace(): Promise<void> {
    const full = this.diskFull;
    if (full === undefined || this.closing) return;
    const free = await freeBytes(full.error.dir);
    if (free < DISK_FULL_RESUME_BYTES || this.diskFull !== full) return;
    clearInterval(full.timer);
    this.diskFull = undefined;
    this.options.log.info(
      { dir: full.error.dir, freeBytes: free },
      'journal disk has room again: replication resumes',
    );
    this.options.onDiskFull?.(this.vpg, undefined, Date.now());
    full.resend(this.journal.lastSeq);
  }

  private start(): void {
    this.retentionTimer = setInterval(
      () => this.runRetention(),
      this.options.retentionIntervalMs ?? 10_000,
    );
    this.retentionTimer.unref();
  }

  /**
   * Past the hard limit a pass starts now, not at the next tick: between ticks the journal
   * grew by their period times the write rate (from 2 to 7.4 GiB in 20 s at 300 MiB/s,
   * bench/README.md § 15). Looked at every LIMIT_CHECK_MS at most: while a pin holds apply,
   * a pass per receive would free nothing, back to back, under the exclusive replica lock.
   */
  private checkHardLimit(): void {
    if (!this.limitCheck.take()) return;
    const usage = this.journal.usage();
    if (usage.bytes > usage.hardLimitBytes) this.runRetention();
  }

  /**
   * Back-pressure at the hard limit. Apply reads and writes every byte that append writes
   * once, so it can fall behind: at 260 MiB/s of records it freed ≈ 100 and the journal ran
   * GiBs past its limit (bench/README.md § 15). Past holdThreshold, records wait here for
   * retention passes before they are appended. Their ACK waits with them, so the source's
   * window stops its sender and the backlog stays in its outbox, where it counts as RPO and
   * has its own limit (bitmap mode). Apply held on purpose (a recovery pin, an export) keeps
   * history instead, as before: records are not held then, nor when a whole pass freed
   * nothing.
   */
  private async roomForRecords(): Promise<void> {
    for (;;) {
      if (this.closing || this.failure !== undefined) return;
      const usage = this.journal.usage();
      if (usage.bytes <= holdThreshold(usage.hardLimitBytes) || this.journal.applyHeld()) return;
      this.warnHeld(usage.bytes, usage.hardLimitBytes);
      if (this.retentionRun === undefined) this.runRetention();
      const run = this.retentionRun;
      if (run === undefined) return;
      let timer: NodeJS.Timeout | undefined;
      this.waiting += 1;
      const done = await Promise.race([
        run.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), HOLD_RECHECK_MS);
        }),
      ]).finally(() => {
        this.waiting -= 1;
        clearTimeout(timer);
      });
      if (done && this.journal.usage().appliedSeq === usage.appliedSeq) return;
    }
  }

  private warnHeld(bytes: number, hardLimitBytes: number): void {
    if (!this.holdWarning.take()) return;
    this.options.log.warn(
      { bytes, hardLimitBytes },
      'journal past its hard limit faster than apply frees it: records wait at the protected site',
    );
  }

  /** A retention pass now, or once more after the one running. */
  private runRetention(): void {
    if (this.retentionRun !== undefined) {
      this.retentionAgain = true;
      return;
    }
    const passes = async (): Promise<void> => {
      do {
        this.retentionAgain = false;
        await this.retention();
      } while (this.retentionAgain && !this.closing);
    };
    this.retentionRun = passes()
      .catch((err: unknown) => this.options.log.error({ err }, 'retention failed'))
      .finally(() => {
        this.retentionRun = undefined;
      });
  }

  private async retention(): Promise<void> {
    if (this.closing) return;
    const result = await this.journal.enforceRetention();
    this.change.prune(this.journal.checkpoints()[0]?.seq ?? this.journal.lastSeq + 1);
    this.options.onRetention?.(this.vpg, { ...result, recordsHeld: this.waiting > 0 }, Date.now());
    // Passes may follow each other while writes keep the journal at its limit: warn once a tick.
    if (result.historyReduced !== undefined && this.limitWarning.take()) {
      this.options.log.warn(
        { ...result.historyReduced },
        'ALERT journal hard limit reached: history reduced',
      );
    }
    if (result.sizeWarning) {
      this.options.log.warn(
        { bytes: result.usage.bytes, warningBytes: this.vpg.journal.warningBytes },
        'ALERT journal above its warning size',
      );
    }
  }

  private wake(lastSeq: number): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= lastSeq);
    this.waiters = this.waiters.filter((w) => w.seq > lastSeq);
    for (const waiter of ready) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }
}
