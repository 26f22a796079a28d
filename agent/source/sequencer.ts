import type { CheckpointRecord } from '../replication/record';

export interface SequencerOptions {
  readonly vpgId: string;
  /**
   * The first seq to hand out: one past the highest seq the VPG's outbox ever held (its
   * segments, or its persisted high-water mark once they were all released), so a restart
   * never reuses a seq.
   */
  readonly firstSeq: number;
  /** Source wall clock (epoch ms) stamped on every record; injectable for tests. */
  readonly clock?: () => number;
  /** Automatic checkpoint period in ms (default 5000); 0 turns automatic checkpoints off. */
  readonly checkpointIntervalMs?: number;
  /**
   * Receives every checkpoint record, synchronously and in seq order with the writes (the
   * outbox append is queued before next() can hand out a higher seq).
   */
  readonly onCheckpoint: (record: CheckpointRecord) => void;
}

export interface Sequenced {
  readonly seq: number;
  readonly sourceTime: number;
}

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5000;

/**
 * One increasing sequence per VPG across all its disks. A seq is handed out synchronously when
 * the tap accepts a request, so a request issued after another one's promise resolved always
 * gets a higher seq (write-order fidelity), and the caller can queue the outbox append in the
 * same tick, keeping the outbox in seq order without a lock.
 */
export class Sequencer {
  /** Set by the engine while the VPG is seeding or resyncing: its checkpoints are not images. */
  inconsistent = false;
  /** Off while the VPG keeps a dirty bitmap instead of records: such checkpoints mean nothing. */
  automaticCheckpoints = true;
  private nextSeq: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;
  private intervalMs: number | undefined;

  constructor(private readonly options: SequencerOptions) {
    this.intervalMs = options.checkpointIntervalMs;
    if (!Number.isSafeInteger(options.firstSeq) || options.firstSeq < 1) {
      throw new RangeError(`bad first seq ${options.firstSeq}`);
    }
    this.nextSeq = options.firstSeq;
    this.clock = options.clock ?? Date.now;
  }

  /** The highest seq handed out so far (firstSeq - 1 before the first). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  next(): Sequenced {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    return { seq, sourceTime: this.clock() };
  }

  /**
   * The outbox failed and lost the appends of every seq after `lastSeq` (none of them reached
   * a file): those seqs are handed out again, so the stream stays gapless.
   */
  rewindTo(lastSeq: number): void {
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0 || lastSeq > this.lastSeq) {
      throw new RangeError(`cannot rewind to seq ${lastSeq} (last handed out: ${this.lastSeq})`);
    }
    this.nextSeq = lastSeq + 1;
  }

  /**
   * Sequences a checkpoint now and returns its seq at once; it stands for every record with a
   * lower seq. The record is handed to onCheckpoint before this returns.
   */
  insertCheckpoint(name?: string): number {
    const { seq, sourceTime } = this.next();
    const record: CheckpointRecord = {
      vpgId: this.options.vpgId,
      seq,
      sourceTime,
      kind: 'checkpoint',
      ...(name !== undefined && { name }),
      ...(this.inconsistent && { inconsistent: true as const }),
    };
    this.options.onCheckpoint(record);
    return seq;
  }

  /** vpg.update: a new automatic checkpoint period, effective at once. */
  setCheckpointInterval(ms: number): void {
    this.intervalMs = ms;
    if (this.timer === undefined) return;
    this.stop();
    this.start();
  }

  start(): void {
    const interval = this.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (interval <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (this.automaticCheckpoints) this.insertCheckpoint();
    }, interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
