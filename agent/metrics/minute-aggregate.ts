import type { MetricsPoint } from '../../app/metrics/metrics-schemas';

export const MINUTE_MS = 60_000;

/** A minute point as stored: the point plus how many seconds it aggregates (to resume it). */
export interface MinuteEntry {
  readonly point: MetricsPoint;
  readonly seconds: number;
}

export function minuteOf(time: number): number {
  return Math.floor(time / MINUTE_MS) * MINUTE_MS;
}

/**
 * The minute being recorded: RPO and backlog are the worst of its seconds, rates the mean,
 * RPO target and journal use the last. It can resume from a stored partial minute (an agent
 * stopped and started again within the same minute), so a minute is never counted twice.
 */
export class MinuteAggregate {
  private count = 0;
  private rpoMax: number | undefined;
  private target = 0;
  private writtenSum = 0;
  private sentSum = 0;
  private backlogMax = 0;
  private journalLast = 0;

  constructor(
    readonly time: number,
    resume?: MinuteEntry,
  ) {
    if (resume === undefined) return;
    const p = resume.point;
    this.count = resume.seconds;
    this.rpoMax = p.rpoSeconds;
    this.target = p.rpoTargetSeconds;
    this.writtenSum = p.writtenBytesPerSecond * resume.seconds;
    this.sentSum = p.sentBytesPerSecond * resume.seconds;
    this.backlogMax = p.backlogBytes;
    this.journalLast = p.journalBytes;
  }

  add(point: MetricsPoint): void {
    this.count += 1;
    if (point.rpoSeconds !== undefined) {
      this.rpoMax = Math.max(this.rpoMax ?? 0, point.rpoSeconds);
    }
    this.target = point.rpoTargetSeconds;
    this.writtenSum += point.writtenBytesPerSecond;
    this.sentSum += point.sentBytesPerSecond;
    this.backlogMax = Math.max(this.backlogMax, point.backlogBytes);
    this.journalLast = point.journalBytes;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  entry(): MinuteEntry {
    const n = Math.max(1, this.count);
    return {
      seconds: this.count,
      point: {
        time: this.time,
        ...(this.rpoMax !== undefined && { rpoSeconds: this.rpoMax }),
        rpoTargetSeconds: this.target,
        writtenBytesPerSecond: this.writtenSum / n,
        sentBytesPerSecond: this.sentSum / n,
        backlogBytes: this.backlogMax,
        journalBytes: this.journalLast,
      },
    };
  }
}
