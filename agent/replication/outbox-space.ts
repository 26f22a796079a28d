import type { Logger } from '../log';
import type { VpgSource, VpgSourceStatus } from '../source/vpg-source';
import { DISK_FULL_CHECK_MS, DISK_FULL_RESUME_BYTES, freeBytes } from '../util/disk-space';
import { drop } from '../util/drop';

export interface OutboxSpaceWatchOptions {
  readonly source: VpgSource;
  readonly log: Logger;
  /** The outbox's disk filled up (a message for the alert) or has room again (undefined). */
  readonly onDiskFull: (message: string | undefined, time: number) => void;
  /** The outbox takes records again; seqs above `lastSeq` were never written. */
  readonly onRecovered: (lastSeq: number) => void;
}

/**
 * The protected site's side of a full disk: the outbox failed for lack of space (the VPG went
 * to bitmap mode, so the VMs keep writing and their regions are tracked). Raises the alert,
 * looks every few seconds whether the file system has room again, and then lets the outbox
 * take records again; the engine's resync resends the tracked regions.
 */
export class OutboxSpaceWatch {
  /** Unknown at first: an alert raised before a restart is cleared if the disk has room. */
  private full: boolean | undefined;
  private checkedAt = 0;
  private checking = false;

  constructor(private readonly options: OutboxSpaceWatchOptions) {}

  /** Once a second, from the engine's tick, with the source's status of that tick. */
  tick(now: number, status: VpgSourceStatus): void {
    const { source, log } = this.options;
    const failed = status.outboxFailed;
    if (failed?.noSpace !== true) {
      if (this.full === undefined) {
        this.full = false;
        this.options.onDiskFull(undefined, now);
      }
      return;
    }
    const dir = source.outbox.dir;
    if (this.full !== true) {
      this.full = true;
      this.checkedAt = now;
      log.error(
        { dir, resumeAtFreeBytes: DISK_FULL_RESUME_BYTES },
        'outbox disk full: written regions are tracked until space is freed',
      );
      this.options.onDiskFull(
        `The file system of its outbox (${dir}) is full: the VMs keep running and the regions they write are tracked, to be resent`,
        now,
      );
      return;
    }
    if (this.checking || now - this.checkedAt < DISK_FULL_CHECK_MS) return;
    this.checkedAt = now;
    this.checking = true;
    drop(
      this.check(dir).finally(() => {
        this.checking = false;
      }),
      (err) => log.warn({ err, dir }, 'the outbox is still full'),
    );
  }

  private async check(dir: string): Promise<void> {
    const free = await freeBytes(dir);
    if (free < DISK_FULL_RESUME_BYTES) return;
    const lastSeq = await this.options.source.recoverOutbox();
    this.full = false;
    this.options.log.info(
      { dir, freeBytes: free, lastSeq },
      'outbox disk has room again: records are taken again, and the tracked regions resynced',
    );
    this.options.onRecovered(lastSeq);
    this.options.onDiskFull(undefined, Date.now());
  }
}
