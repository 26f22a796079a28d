import type { CheckpointChange } from '../../app/protocol';
import type { Journal } from '../journal/journal';
import type { Logger } from '../log';
import type { ChangeSignal, SignalDisk } from './change-signal';
import { appendFigures, loadFigures, loadSignal, rewriteFigures, saveSignal } from './change-store';
import type { StreamRecord } from './record';

/**
 * A received VPG's clean-point signal (change-signal.ts) kept with its checkpoints: measured as
 * the journal appends records, the figures of each checkpoint appended to a file beside the
 * journal (change-store.ts), read back at open, pruned with the checkpoints. Failing to
 * write them is logged and never stops replication: they are advice, the journal is the data.
 */
export class ChangeFigures {
  private writes: Promise<void> = Promise.resolve();
  private writeFailed = false;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly journal: Journal,
    private readonly disks: readonly SignalDisk[],
    private readonly signal: ChangeSignal,
    private readonly figures: Map<number, CheckpointChange>,
    private lines: number,
    private readonly log: Logger,
  ) {}

  static async open(
    journal: Journal,
    disks: readonly SignalDisk[],
    log: Logger,
  ): Promise<ChangeFigures> {
    const loaded = await loadFigures(journal.dir);
    const lastSeq = journal.lastSeq;
    const atCheckpoint = journal.latestCheckpoint()?.seq === lastSeq;
    const { signal, restored } = await loadSignal(journal.dir, disks, lastSeq, atCheckpoint);
    if (!restored && lastSeq > 0) {
      log.info(
        { lastSeq },
        'change signal: no memory from a clean stop; turned-high counts start from here',
      );
    }
    const figures = new ChangeFigures(
      journal.dir,
      journal,
      disks,
      signal,
      loaded.figures,
      loaded.lines,
      log,
    );
    figures.prune(journal.checkpoints()[0]?.seq ?? lastSeq + 1);
    return figures;
  }

  /** The figures of checkpoint `seq`, if it was measured. */
  of(seq: number): CheckpointChange | undefined {
    return this.figures.get(seq);
  }

  /** The journal's new records (Journal onAppended), in seq order. */
  measure(records: readonly StreamRecord[]): void {
    if (this.closed) return;
    for (const record of records) {
      const change = this.signal.add(record);
      if (change === undefined) continue;
      this.figures.set(record.seq, change);
      this.lines += 1;
      this.queue(() => appendFigures(this.dir, record.seq, change));
    }
  }

  /** Forgets the figures of checkpoints below `oldestSeq`; rewrites the file once it pays. */
  prune(oldestSeq: number): void {
    for (const seq of this.figures.keys()) {
      if (seq < oldestSeq) this.figures.delete(seq);
    }
    if (this.closed || this.lines <= 2 * this.figures.size + 64) return;
    this.lines = this.figures.size;
    const kept = new Map(this.figures);
    this.queue(() => rewriteFigures(this.dir, kept));
  }

  /** Waits for the writes, then saves the memory for the next open (a clean close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    try {
      await saveSignal(this.dir, this.signal, this.journal.lastSeq, this.disks);
    } catch (err) {
      this.log.warn({ err }, 'change signal: cannot save its memory (the next open starts afresh)');
    }
  }

  private queue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).then(
      () => {
        this.writeFailed = false;
      },
      (err: unknown) => {
        // Once per streak of failures (a full disk would otherwise log every checkpoint).
        if (!this.writeFailed) {
          this.log.warn({ err }, 'change signal: cannot write checkpoint figures');
        }
        this.writeFailed = true;
      },
    );
  }
}
