import { TidelineError } from '../../app/errors';
import type { CheckpointInfo } from '../../app/protocol';

/** A checkpoint as the source knows it (from its sequencer, its outbox or the target). */
export interface KnownCheckpoint {
  readonly seq: number;
  readonly sourceTime: number;
  readonly name?: string;
  readonly inconsistent?: true;
}

export interface CheckpointLogOptions {
  readonly vpgId: string;
  /** Checkpoints older than this (source time) are forgotten, like the journal's history. */
  readonly historyMs: number;
  /** Hard cap on remembered checkpoints (default 50 000). */
  readonly maxEntries?: number;
}

interface Waiter {
  readonly seq: number;
  readonly resolve: (info: CheckpointInfo) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The source's view of a VPG's checkpoints: every checkpoint it sequenced (or found in its
 * outbox, or learned from the target after a restart), oldest first, and the highest seq the
 * target acknowledged. A checkpoint is confirmed once that seq reaches it: everything before
 * it is then persisted at the recovery site.
 */
export class CheckpointLog {
  private entries: KnownCheckpoint[] = [];
  private acked = 0;
  private waiters: Waiter[] = [];
  private closedWith: Error | undefined;

  constructor(private readonly options: CheckpointLogOptions) {}

  get ackedSeq(): number {
    return this.acked;
  }

  /** Remembers a checkpoint (idempotent; kept in seq order). */
  learn(checkpoint: KnownCheckpoint): void {
    const last = this.entries.at(-1);
    if (last === undefined || last.seq < checkpoint.seq) {
      this.entries.push(checkpoint);
    } else {
      const i = this.indexOf(checkpoint.seq);
      if (this.entries[i]?.seq === checkpoint.seq) return;
      this.entries.splice(i, 0, checkpoint);
    }
    this.prune(checkpoint.sourceTime);
  }

  /** The target persisted every record through `seq`. */
  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = seq;
    const ready = this.waiters.filter((w) => w.seq <= seq);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > seq);
    for (const waiter of ready) {
      clearTimeout(waiter.timer);
      const known = this.find(waiter.seq);
      if (known !== undefined) waiter.resolve(this.info(known));
      else waiter.reject(this.unknown(waiter.seq));
    }
  }

  find(seq: number): KnownCheckpoint | undefined {
    const entry = this.entries[this.indexOf(seq)];
    return entry?.seq === seq ? entry : undefined;
  }

  info(checkpoint: KnownCheckpoint): CheckpointInfo {
    return {
      vpgId: this.options.vpgId,
      seq: checkpoint.seq,
      sourceTime: checkpoint.sourceTime,
      ...(checkpoint.name !== undefined && { name: checkpoint.name }),
      ...(checkpoint.inconsistent === true && { inconsistent: true }),
      confirmed: checkpoint.seq <= this.acked,
    };
  }

  list(): CheckpointInfo[] {
    return this.entries.map((c) => this.info(c));
  }

  newest(): KnownCheckpoint | undefined {
    return this.entries.at(-1);
  }

  /** The newest checkpoint persisted at the target that is a crash-consistent image. */
  newestConfirmedConsistent(): KnownCheckpoint | undefined {
    for (let i = this.entries.length - 1; i >= 0; i -= 1) {
      const c = this.entries[i] as KnownCheckpoint;
      if (c.seq <= this.acked && c.inconsistent !== true) return c;
    }
    return undefined;
  }

  /**
   * Resolves once checkpoint `seq` is persisted at the recovery site; TIMEOUT after
   * `timeoutMs` with `why` (what the admin should look at) in the message.
   */
  waitFor(seq: number, timeoutMs: number, why: () => string): Promise<CheckpointInfo> {
    const known = this.find(seq);
    if (known === undefined) return Promise.reject(this.unknown(seq));
    if (seq <= this.acked) return Promise.resolve(this.info(known));
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    return new Promise<CheckpointInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new TidelineError(
            'TIMEOUT',
            `Checkpoint ${seq} of VPG ${this.options.vpgId} was not persisted at the recovery site within ${formatSeconds(timeoutMs)}: ${why()}`,
            { vpgId: this.options.vpgId, seq, ackedSeq: this.acked },
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = { seq, resolve, reject, timer };
      this.waiters.push(waiter);
    });
  }

  /**
   * The checkpoints above `seq` never reached the outbox (it failed before they were written,
   * and their seqs are handed out again): they are forgotten, and their waiters fail.
   */
  forgetAbove(seq: number): void {
    this.entries = this.entries.slice(0, this.indexOf(seq + 1));
    const lost = this.waiters.filter((w) => w.seq > seq);
    if (lost.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq <= seq);
    for (const waiter of lost) {
      clearTimeout(waiter.timer);
      waiter.reject(
        new TidelineError(
          'CONFLICT',
          `Checkpoint ${waiter.seq} of VPG ${this.options.vpgId} was lost: the outbox failed before it was written; insert a new one`,
          { vpgId: this.options.vpgId, seq: waiter.seq },
        ),
      );
    }
  }

  /** The VPG stopped: every waiter fails with `error`. */
  close(error: Error): void {
    this.closedWith = error;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters = [];
  }

  /** First index whose seq is ≥ `seq`. */
  private indexOf(seq: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as KnownCheckpoint).seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private prune(newestTime: number): void {
    const max = this.options.maxEntries ?? 50_000;
    const cutoff = newestTime - this.options.historyMs;
    const oldest = this.entries[0];
    if (this.entries.length <= max && (oldest === undefined || oldest.sourceTime >= cutoff)) {
      return;
    }
    // Keep the newest confirmed consistent one whatever its age: it is the RPO's anchor.
    const anchor = this.newestConfirmedConsistent()?.seq;
    const kept = this.entries.filter((c) => c.sourceTime >= cutoff || c.seq === anchor);
    const excess = kept.length - max;
    this.entries = excess <= 0 ? kept : kept.filter((c, i) => i >= excess || c.seq === anchor);
  }

  private unknown(seq: number): TidelineError {
    return new TidelineError(
      'NOT_FOUND',
      `VPG ${this.options.vpgId} has no checkpoint ${seq} (it may have left the history window); list them with checkpoint.list`,
      { vpgId: this.options.vpgId, seq },
    );
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
