import { TidelineError } from '../../app/errors';

interface InFlight {
  readonly lastSeq: number;
  readonly bytes: number;
}

interface Waiter {
  readonly lastSeq: number;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Acknowledged bytes per second of one VPG, over intervals of at least RATE_INTERVAL_MS. */
interface AckRate {
  bytesPerSecond: number;
  acked: number;
  since: number;
}

const RATE_INTERVAL_MS = 250;

/** How the window grows past its base on a fast link. */
export interface WindowGrowth {
  /** The most a VPG may have unacknowledged. */
  readonly maxBytes: number;
  /** In flight: at most this long's worth of the VPG's acknowledged rate (above the base). */
  readonly delayMs: number;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
}

interface VpgWindow {
  bytes: number;
  readonly inFlight: InFlight[];
  readonly waiters: Waiter[];
}

/**
 * The source side's window of unacknowledged bytes, per VPG: a batch may go out while the
 * VPG's unacknowledged bytes plus the batch fit in the window (or nothing is in flight, so a
 * batch bigger than the window still goes, alone). An ACK or POSITION for seq S releases
 * every batch whose last record is ≤ S. This is what bounds memory and queues on both ends.
 *
 * With `growth`, a VPG's window is its acknowledged rate times `growth.delayMs`, between
 * `windowBytes` and `growth.maxBytes`. A fast link whose acknowledgements wait for the
 * recovery site's fdatasync gets enough in flight to cover it; a slow link keeps the base,
 * so what waits in its queues (and delays the ACKs) stays as it was.
 */
export class RecordWindow {
  private readonly vpgs = new Map<string, VpgWindow>();
  private readonly rates = new Map<string, AckRate>();
  private readonly clock: () => number;

  constructor(
    readonly windowBytes: number,
    private readonly growth?: WindowGrowth,
  ) {
    this.clock = growth?.clock ?? (() => performance.now());
  }

  /** The VPG's window now: the base, or more on a fast link (see the class). */
  limit(vpgId: string): number {
    const growth = this.growth;
    if (growth === undefined) return this.windowBytes;
    const rate = this.rates.get(vpgId)?.bytesPerSecond ?? 0;
    const wanted = Math.floor((rate * growth.delayMs) / 1000);
    return Math.min(growth.maxBytes, Math.max(this.windowBytes, wanted));
  }

  /** Bytes sent for `vpgId` and not yet acknowledged. */
  unacked(vpgId: string): number {
    return this.vpgs.get(vpgId)?.bytes ?? 0;
  }

  /** Waits for room, then counts the batch (ending at `lastSeq`) as in flight. */
  acquire(vpgId: string, lastSeq: number, bytes: number): Promise<void> {
    const vpg = this.vpg(vpgId);
    if (vpg.waiters.length === 0 && this.fits(vpgId, vpg, bytes)) {
      this.take(vpg, lastSeq, bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      vpg.waiters.push({ lastSeq, bytes, resolve, reject });
    });
  }

  /** Acknowledged through `seq`: releases the batches it covers. */
  release(vpgId: string, seq: number): void {
    const vpg = this.vpgs.get(vpgId);
    if (vpg === undefined) return;
    let released = 0;
    while (vpg.inFlight.length > 0 && (vpg.inFlight[0]?.lastSeq ?? Infinity) <= seq) {
      const done = vpg.inFlight.shift();
      if (done !== undefined) released += done.bytes;
    }
    vpg.bytes -= released;
    this.measure(vpgId, released);
    this.wake(vpgId, vpg);
  }

  /**
   * Forgets what is in flight for `vpgId` (the sender resends from the target's position),
   * and refuses the batches still waiting for room: they belong to the stream being replaced.
   * Let through, such a stale batch would take the window with records past the target's
   * position, which the target never acknowledges (a gap), and the new stream would wait
   * behind it for good.
   */
  rewind(vpgId: string): void {
    const vpg = this.vpgs.get(vpgId);
    if (vpg === undefined) return;
    vpg.inFlight.length = 0;
    vpg.bytes = 0;
    const stale = new TidelineError(
      'UNAVAILABLE',
      `The stream of VPG ${vpgId} was rewound: this batch is sent again from the new position`,
    );
    for (const waiter of vpg.waiters.splice(0)) waiter.reject(stale);
    this.wake(vpgId, vpg);
  }

  /** The link went down: nothing is in flight any more, and every waiting send fails. */
  reset(error: Error): void {
    for (const vpg of this.vpgs.values()) {
      for (const waiter of vpg.waiters.splice(0)) waiter.reject(error);
    }
    this.vpgs.clear();
    this.rates.clear(); // the next connection may take another path
  }

  private measure(vpgId: string, bytes: number): void {
    if (this.growth === undefined) return;
    const now = this.clock();
    let rate = this.rates.get(vpgId);
    if (rate === undefined) {
      rate = { bytesPerSecond: 0, acked: 0, since: now };
      this.rates.set(vpgId, rate);
    }
    rate.acked += bytes;
    const elapsed = now - rate.since;
    if (elapsed < RATE_INTERVAL_MS) return;
    const sample = (rate.acked * 1000) / elapsed;
    // Halfway to each new interval's rate: a slower link brings the window down within ~1 s.
    rate.bytesPerSecond = rate.bytesPerSecond === 0 ? sample : (rate.bytesPerSecond + sample) / 2;
    rate.acked = 0;
    rate.since = now;
  }

  private vpg(vpgId: string): VpgWindow {
    let vpg = this.vpgs.get(vpgId);
    if (vpg === undefined) {
      vpg = { bytes: 0, inFlight: [], waiters: [] };
      this.vpgs.set(vpgId, vpg);
    }
    return vpg;
  }

  private fits(vpgId: string, vpg: VpgWindow, bytes: number): boolean {
    return vpg.bytes === 0 || vpg.bytes + bytes <= this.limit(vpgId);
  }

  private take(vpg: VpgWindow, lastSeq: number, bytes: number): void {
    vpg.inFlight.push({ lastSeq, bytes });
    vpg.bytes += bytes;
  }

  private wake(vpgId: string, vpg: VpgWindow): void {
    while (vpg.waiters.length > 0) {
      const waiter = vpg.waiters[0];
      if (waiter === undefined || !this.fits(vpgId, vpg, waiter.bytes)) break;
      vpg.waiters.shift();
      this.take(vpg, waiter.lastSeq, waiter.bytes);
      waiter.resolve();
    }
    if (vpg.bytes === 0 && vpg.waiters.length === 0) this.vpgs.delete(vpgId);
  }
}
