import type { MetricsPoint } from '../../app/metrics/metrics-schemas';

/**
 * One VPG's 1-second points for the last `slots` seconds, in fixed typed arrays (no garbage
 * per tick): slot = second mod slots, and the slot keeps its second so a stale slot (from a
 * lap ago) is never read as current. A second recorded twice keeps the last value.
 */
export class SecondRing {
  private readonly seconds: Float64Array;
  private readonly rpo: Float64Array;
  private readonly target: Float64Array;
  private readonly written: Float64Array;
  private readonly sent: Float64Array;
  private readonly backlog: Float64Array;
  private readonly journal: Float64Array;
  private latest = Number.NEGATIVE_INFINITY;

  constructor(private readonly slots: number) {
    this.seconds = new Float64Array(slots).fill(Number.NaN);
    this.rpo = new Float64Array(slots);
    this.target = new Float64Array(slots);
    this.written = new Float64Array(slots);
    this.sent = new Float64Array(slots);
    this.backlog = new Float64Array(slots);
    this.journal = new Float64Array(slots);
  }

  record(point: MetricsPoint): void {
    const second = Math.floor(point.time / 1000);
    const i = mod(second, this.slots);
    this.seconds[i] = second;
    this.latest = Math.max(this.latest, second);
    this.rpo[i] = point.rpoSeconds ?? Number.NaN;
    this.target[i] = point.rpoTargetSeconds;
    this.written[i] = point.writtenBytesPerSecond;
    this.sent[i] = point.sentBytesPerSecond;
    this.backlog[i] = point.backlogBytes;
    this.journal[i] = point.journalBytes;
  }

  /** Points whose second starts in [floor(from), to], oldest first, within the ring's reach. */
  points(from: number, to: number): MetricsPoint[] {
    // Only the last `slots` seconds up to the newest one recorded can be in the ring.
    const last = Math.min(Math.floor(to / 1000), this.latest);
    const first = Math.max(Math.floor(from / 1000), this.latest - this.slots + 1);
    const out: MetricsPoint[] = [];
    for (let second = first; second <= last; second++) {
      const i = mod(second, this.slots);
      if (this.seconds[i] !== second) continue;
      const rpo = this.rpo[i] as number;
      out.push({
        time: second * 1000,
        ...(!Number.isNaN(rpo) && { rpoSeconds: rpo }),
        rpoTargetSeconds: this.target[i] as number,
        writtenBytesPerSecond: this.written[i] as number,
        sentBytesPerSecond: this.sent[i] as number,
        backlogBytes: this.backlog[i] as number,
        journalBytes: this.journal[i] as number,
      });
    }
    return out;
  }
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}
