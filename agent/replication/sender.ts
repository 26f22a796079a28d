import { TidelineError, isTidelineError } from '../../app/errors';
import type { Logger } from '../log';
import type { RecordThrottle } from '../policy/policy-scheduler';
import type { PeerLink } from '../peer/peer-link';
import type { VpgSource } from '../source/vpg-source';
import { BufferPool } from '../util/buffer-pool';
import { drop } from '../util/drop';
import { decodeRecord, type CheckpointRecord } from './record';
import { sleep } from '../util/sleep';

export interface SenderOptions {
  readonly vpgId: string;
  readonly source: VpgSource;
  readonly log: Logger;
  /** Bytes read from the outbox per sendRecords call (default 4 MiB). */
  readonly readBytes?: number;
  /** Delay before a failed stream restarts from a fresh POSITION (default 1 s). */
  readonly retryMs?: number;
  /** Bandwidth limits of the policies in force (agent/policy); absent: unlimited. */
  readonly throttle?: RecordThrottle;
  /** The target persisted everything through `seq` (ACK, or a POSITION). */
  readonly onAcked: (seq: number) => void;
  /** A checkpoint record is being sent (also those sequenced before a restart). */
  readonly onCheckpoint: (record: CheckpointRecord) => void;
  /** Streaming cannot go on without an admin (the target lost records the outbox released). */
  readonly onFatal: (error: TidelineError) => void;
}

const KIND_CHECKPOINT = 5;
const KIND_SEED = 2;
const KIND_ZERO = 3;
const READ_BYTES = 4 * 1024 * 1024;
/** Outbox reads, shared by every sender of the agent (a fresh 4 MiB per read kept V8 collecting). */
const READ_POOL = new BufferPool({
  minBytes: 256 * 1024,
  // A read covers whole blocks around its records (util/direct-io.ts): up to 8 KiB more.
  maxBytes: READ_BYTES + 64 * 1024,
  idleBytes: 16 * 1024 * 1024,
  aligned: true,
});
/** Senders of the agent reading ahead at once (each holds one more read, READ_BYTES). */
const MAX_READS_AHEAD = 4;
let readsAhead = 0;
/** Records pass the throttle in slices of about this many bytes (smooth, not bursty). */
const THROTTLE_SLICE_BYTES = 128 * 1024;

/**
 * Streams one source VPG's outbox to its target over the peer link, in the Litestream way: on
 * every link up it asks the target's POSITION and resumes right after it (the target is the
 * source of truth), sends what the outbox can hand out, within the link's window, and
 * releases outbox records only when the target acknowledged them. Link down stops it; the
 * next up starts over from a fresh POSITION. An unsolicited POSITION (the target saw a gap)
 * rewinds it there.
 */
export class VpgSender {
  private link: PeerLink | undefined;
  private generation = 0;
  private running = false;
  private acked = 0;
  private sentBytes = 0;
  private readableSignal = false;
  private wake: (() => void) | undefined;
  private askingPosition = false;
  private next = 0;
  private readonly onReadable = (): void => {
    this.readableSignal = true;
    this.wakeUp();
  };

  constructor(private readonly options: SenderOptions) {}

  start(): void {
    this.running = true;
    this.options.source.outbox.on('readable', this.onReadable);
  }

  /** Stops streaming (waits for nothing: a send in flight fails or is acknowledged later). */
  stop(): void {
    this.running = false;
    this.options.source.outbox.off('readable', this.onReadable);
    this.generation += 1;
    this.link = undefined;
    this.wakeUp();
  }

  get ackedSeq(): number {
    return this.acked;
  }

  /** Bytes handed to the link so far (for bytes/s sent). */
  get bytesSent(): number {
    return this.sentBytes;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  /** The link to the target is up: resume after the target's position. */
  linkUp(link: PeerLink): void {
    if (!this.running) return;
    this.link = link;
    this.restart(undefined);
  }

  linkDown(): void {
    this.link = undefined;
    this.generation += 1;
    this.wakeUp();
  }

  onAck(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = seq;
    drop(this.options.source.release(seq), (err) =>
      this.options.log.error({ err, vpgId: this.options.vpgId, seq }, 'outbox release failed'),
    );
    this.options.onAcked(seq);
  }

  /** Every POSITION of this VPG: persisted through `seq`; unasked, it means "resend from". */
  onPosition(seq: number): void {
    if (seq > this.acked && seq <= this.options.source.outbox.readableSeq()) this.onAck(seq);
    if (this.askingPosition || this.link === undefined) return;
    // Also a POSITION just before the stream's start: the target may have refused the
    // stream's first records (a VPG held by a failover). A stale one costs a resend of what
    // is in flight; the target ignores the duplicates.
    if (seq + 1 >= this.next) return;
    this.options.log.warn(
      { vpgId: this.options.vpgId, position: seq, next: this.next },
      'the target asked to resend: rewinding',
    );
    this.restart(seq);
  }

  private restart(position: number | undefined): void {
    const link = this.link;
    if (link === undefined || !this.running) return;
    this.generation += 1;
    const generation = this.generation;
    this.wakeUp();
    drop(this.stream(generation, link, position), (err) =>
      this.options.log.error({ err, vpgId: this.options.vpgId }, 'sender failed unexpectedly'),
    );
  }

  private current(generation: number): boolean {
    return this.running && generation === this.generation;
  }

  private async stream(
    generation: number,
    link: PeerLink,
    known: number | undefined,
  ): Promise<void> {
    const { vpgId, source } = this.options;
    try {
      let position = known;
      if (position === undefined) {
        this.askingPosition = true;
        try {
          position = await link.requestPosition(vpgId);
        } finally {
          this.askingPosition = false;
        }
      }
      if (!this.current(generation)) return;
      link.rewind(vpgId);
      if (position > source.outbox.lastSeq) {
        throw new TidelineError(
          'CONFLICT',
          `The recovery site holds VPG ${vpgId} up to record ${position}, beyond this site's last record ${source.outbox.lastSeq}: the protected site lost its outbox; the VPG needs a resync`,
        );
      }
      this.onAck(position);
      this.next = position + 1;
      this.options.log.info({ vpgId, from: this.next }, 'streaming to the recovery site');
      const readBytes = this.options.readBytes ?? READ_BYTES;
      const readFrom = (seq: number): Promise<Buffer[]> => {
        this.readableSignal = false; // a signal from here on means: read again before idling
        const read = source.outbox.read(seq, readBytes, (bytes) => READ_POOL.take(bytes));
        read.catch(() => undefined); // awaited below, unless the stream ends first
        return read;
      };
      let ahead: Promise<Buffer[]> | undefined;
      while (this.current(generation)) {
        const records = await (ahead ?? readFrom(this.next));
        ahead = undefined;
        if (!this.current(generation)) return;
        if (records.length === 0) {
          if (!this.readableSignal) await this.idle();
          continue;
        }
        for (const buf of records) {
          if (buf.readUInt8(5) !== KIND_CHECKPOINT) continue;
          const decoded = decodeRecord(buf);
          if (decoded.status === 'ok' && decoded.record.kind === 'checkpoint') {
            this.options.onCheckpoint(decoded.record);
          }
        }
        const next = Number((records.at(-1) as Buffer).readBigUInt64LE(8)) + 1;
        // The next read runs while this batch is sent: with the backlog on disk, its wait for
        // the disk overlaps the send instead of following it (bench/README.md § 13). A few
        // senders at a time, so many VPGs draining at once hold no more read buffers.
        let aheadTaken = false;
        if (readsAhead < MAX_READS_AHEAD) {
          readsAhead += 1;
          aheadTaken = true;
          ahead = readFrom(next);
        }
        try {
          await this.send(generation, link, records);
        } finally {
          if (aheadTaken) readsAhead -= 1;
        }
        // Sent (the socket let go of them): the read buffers can take the next read. After a
        // failure they are left to the collector, as a closing socket may still hold them.
        for (const buf of records) READ_POOL.give(buf);
        if (!this.current(generation)) return;
        this.next = next;
      }
    } catch (err) {
      if (!this.current(generation)) return; // the link went down or the stream was replaced
      if (isTidelineError(err) && (err.code === 'NOT_FOUND' || err.code === 'CONFLICT')) {
        // The outbox no longer holds what the target needs, or holds less than it has.
        this.options.log.error({ err, vpgId }, 'streaming stopped: the VPG needs a resync');
        this.options.onFatal(
          err.code === 'NOT_FOUND'
            ? new TidelineError(
                'CONFLICT',
                `The recovery site needs records of VPG ${vpgId} that this site already released (${err.message}); the VPG needs a resync`,
              )
            : err,
        );
        return;
      }
      this.options.log.warn(
        { vpgId, err: err instanceof Error ? err.message : String(err) },
        'streaming interrupted; resuming from the target position',
      );
      await sleep(this.options.retryMs ?? 1000);
      if (this.current(generation) && this.link === link && link.state === 'connected') {
        this.restart(undefined);
      }
    }
  }

  /**
   * Hands records to the link, through the throttle when there is one: in slices, seed and
   * zero records (initial sync, resync) through the seeding bucket, the rest through the
   * replication bucket. A slice pays for the bytes it took on the wire once it is sent (a
   * compressing link sends fewer than the records hold), so a limit caps the link's use and
   * the next slice waits for what this one cost.
   */
  private async send(generation: number, link: PeerLink, records: Buffer[]): Promise<void> {
    const { vpgId, throttle } = this.options;
    if (throttle === undefined || !throttle.limited()) {
      await link.sendRecords(vpgId, records);
      for (const buf of records) this.sentBytes += buf.length;
      return;
    }
    let start = 0;
    while (start < records.length && this.current(generation)) {
      const seeding = isSeeding(records[start] as Buffer);
      let end = start;
      let bytes = 0;
      while (end < records.length && bytes < THROTTLE_SLICE_BYTES) {
        const buf = records[end] as Buffer;
        if (isSeeding(buf) !== seeding) break;
        bytes += buf.length;
        end += 1;
      }
      const wire = await link.sendRecords(vpgId, records.slice(start, end));
      this.sentBytes += bytes;
      start = end;
      await throttle.take(seeding ? 'seeding' : 'replication', wire);
    }
  }

  /** Waits for new readable records, a stop, or a second (a missed event costs no more). */
  private idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, 1000);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private wakeUp(): void {
    this.wake?.();
  }
}

function isSeeding(record: Buffer): boolean {
  const kind = record.readUInt8(5);
  return kind === KIND_SEED || kind === KIND_ZERO;
}
