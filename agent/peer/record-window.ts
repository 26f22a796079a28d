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
 */
export class RecordWindow {
  private readonly vpgs = new Map<string, VpgWindow>();

  constructor(readonly windowBytes: number) {}

  /** Bytes sent for `vpgId` and not yet acknowledged. */
  unacked(vpgId: string): number {
    return this.vpgs.get(vpgId)?.bytes ?? 0;
  }

  /** Waits for room, then counts the batch (ending at `lastSeq`) as in flight. */
  acquire(vpgId: string, lastSeq: number, bytes: number): Promise<void> {
    const vpg = this.vpg(vpgId);
    if (vpg.waiters.length === 0 && this.fits(vpg, bytes)) {
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
    while (vpg.inFlight.length > 0 && (vpg.inFlight[0]?.lastSeq ?? Infinity) <= seq) {
      const done = vpg.inFlight.shift();
      if (done !== undefined) vpg.bytes -= done.bytes;
    }
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
  }

  private vpg(vpgId: string): VpgWindow {
    let vpg = this.vpgs.get(vpgId);
    if (vpg === undefined) {
      vpg = { bytes: 0, inFlight: [], waiters: [] };
      this.vpgs.set(vpgId, vpg);
    }
    return vpg;
  }

  private fits(vpg: VpgWindow, bytes: number): boolean {
    return vpg.bytes === 0 || vpg.bytes + bytes <= this.windowBytes;
  }

  private take(vpg: VpgWindow, lastSeq: number, bytes: number): void {
    vpg.inFlight.push({ lastSeq, bytes });
    vpg.bytes += bytes;
  }

  private wake(vpgId: string, vpg: VpgWindow): void {
    while (vpg.waiters.length > 0) {
      const waiter = vpg.waiters[0];
      if (waiter === undefined || !this.fits(vpg, waiter.bytes)) break;
      vpg.waiters.shift();
      this.take(vpg, waiter.lastSeq, waiter.bytes);
      waiter.resolve();
    }
    if (vpg.bytes === 0 && vpg.waiters.length === 0) this.vpgs.delete(vpgId);
  }
}
