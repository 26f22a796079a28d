import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  METRICS_MINUTE_RETENTION_MS,
  METRICS_SECOND_RETENTION_MS,
  type MetricsHistory as MetricsHistoryResult,
  type MetricsPoint,
} from '../../app/metrics/metrics-schemas';
import type { Logger } from '../log';
import { removeStaleTempFiles } from '../store/atomic-file';
import { isErrno } from '../store/json-file';
import { MinuteAggregate, minuteOf, type MinuteEntry } from './minute-aggregate';
import { appendMinutes, loadMinutes, rewriteMinutes } from './minute-file';
import { resolveRange, type RangeQuery } from './query-range';
import { SecondRing } from './second-ring';

/** One rpo.tick of a source VPG (extra fields such as status are ignored). */
export type MetricsSample = MetricsPoint & { readonly vpgId: string };

export interface MetricsHistoryOptions {
  /** Where the minute files live (`<dataDir>/state/metrics`). */
  readonly dir: string;
  readonly log: Logger;
  /** Wall clock, ms since the epoch (default Date.now): retention and query defaults. */
  readonly now?: () => number;
  /** Stale lines a file may hold before it is compacted (default a day of minutes). */
  readonly compactSlackLines?: number;
}

interface VpgHistory {
  readonly vpgId: string;
  readonly file: string;
  readonly ring: SecondRing;
  /** Complete minutes (and a partial one flushed at a stop), oldest first. */
  minutes: MinuteEntry[];
  current: MinuteAggregate | undefined;
  /** Closed minutes not yet appended to the file (appended in one go). */
  unwritten: MinuteEntry[];
  compactQueued: boolean;
  fileLines: number;
  /** File operations, one after the other. */
  writes: Promise<void>;
  removed: boolean;
}

const SUFFIX = '.ndjson';
const SECOND_SLOTS = METRICS_SECOND_RETENTION_MS / 1000;

/**
 * The metrics history of the VPGs this agent protects, fed by their rpo.tick: 1-second points
 * for the last hour in memory, 1-minute aggregates for 7 days in memory and in one append-only
 * file per VPG (a line per completed minute; the partial minute is written at a clean stop).
 */
export class MetricsHistory {
  private readonly vpgs = new Map<string, VpgHistory>();
  private readonly now: () => number;
  private readonly slack: number;

  constructor(private readonly options: MetricsHistoryOptions) {
    this.now = options.now ?? Date.now;
    this.slack = options.compactSlackLines ?? 1440;
  }

  /** Loads every VPG's minute file (a torn last line is cut; old minutes are compacted away). */
  async load(): Promise<void> {
    const { dir, log } = this.options;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await removeStaleTempFiles(dir);
    for (const name of names) {
      if (!name.endsWith(SUFFIX)) continue;
      const vpgId = decodeURIComponent(name.slice(0, -SUFFIX.length));
      const h = this.history(vpgId);
      try {
        const loaded = await loadMinutes(h.file);
        if (loaded.tornBytes > 0 || loaded.invalid > 0) {
          log.warn(
            { vpgId, tornBytes: loaded.tornBytes, invalidLines: loaded.invalid },
            'metrics history: cut a torn last line / skipped unreadable lines',
          );
        }
        h.minutes = loaded.entries;
        h.fileLines = loaded.lines;
        this.prune(h);
        this.compactIfStale(h);
      } catch (err) {
        log.error({ err, vpgId }, 'cannot load the metrics history of a VPG; it starts empty');
      }
    }
    await this.flush();
  }

  record(sample: MetricsSample): void {
    const h = this.history(sample.vpgId);
    const point: MetricsPoint = {
      time: sample.time,
      ...(sample.rpoSeconds !== undefined && { rpoSeconds: sample.rpoSeconds }),
      rpoTargetSeconds: sample.rpoTargetSeconds,
      writtenBytesPerSecond: sample.writtenBytesPerSecond,
      sentBytesPerSecond: sample.sentBytesPerSecond,
      backlogBytes: sample.backlogBytes,
      journalBytes: sample.journalBytes,
    };
    h.ring.record(point);
    const minute = minuteOf(point.time);
    if (h.current !== undefined && minute < h.current.time) return; // the clock went back
    if (h.current !== undefined && minute > h.current.time) {
      this.closeMinute(h);
    }
    if (h.current === undefined) {
      const last = h.minutes.at(-1);
      h.current = new MinuteAggregate(minute, last?.point.time === minute ? last : undefined);
    }
    h.current.add(point);
  }

  /** metrics.history of a VPG (no points if it never ticked here). */
  query(vpgId: string, query: RangeQuery): MetricsHistoryResult {
    const range = resolveRange(query, this.now());
    const h = this.vpgs.get(vpgId);
    let points: MetricsPoint[] = [];
    if (h !== undefined && range.resolution === 'second') {
      points = h.ring.points(range.from, range.to);
    } else if (h !== undefined) {
      this.prune(h);
      const first = minuteOf(range.from);
      const entries = h.minutes.filter((e) => e.point.time >= first && e.point.time <= range.to);
      const partial = h.current?.empty === false ? h.current.entry() : undefined;
      if (partial !== undefined && partial.point.time >= first && partial.point.time <= range.to) {
        if (entries.at(-1)?.point.time === partial.point.time) entries.pop();
        entries.push(partial);
      }
      points = entries.map((e) => e.point);
    }
    return { vpgId, ...range, points };
  }

  /** Deletes a VPG's history (the VPG is gone). */
  async remove(vpgId: string): Promise<void> {
    const h = this.vpgs.get(vpgId);
    this.vpgs.delete(vpgId);
    if (h !== undefined) {
      h.removed = true;
      await h.writes;
    }
    await rm(this.fileOf(vpgId), { force: true });
  }

  /** Deletes the histories of VPGs not in `vpgIds` (removed while their file stayed behind). */
  async retain(vpgIds: Iterable<string>): Promise<void> {
    const keep = new Set(vpgIds);
    for (const vpgId of [...this.vpgs.keys()]) {
      if (keep.has(vpgId)) continue;
      this.options.log.info({ vpgId }, 'metrics history of a VPG that is gone: deleted');
      await this.remove(vpgId);
    }
  }

  /** Writes every partial minute (so a restart keeps it) and waits for the files. */
  async stop(): Promise<void> {
    for (const h of this.vpgs.values()) this.closeMinute(h);
    await this.flush();
  }

  /** Resolves once every file operation queued so far is done. */
  async flush(): Promise<void> {
    await Promise.all([...this.vpgs.values()].map((h) => h.writes));
  }

  private closeMinute(h: VpgHistory): void {
    const current = h.current;
    h.current = undefined;
    if (current === undefined || current.empty) return;
    const entry = current.entry();
    if (h.minutes.at(-1)?.point.time === entry.point.time) h.minutes.pop();
    h.minutes.push(entry);
    this.prune(h);
    h.fileLines += 1;
    h.unwritten.push(entry);
    if (h.unwritten.length === 1) {
      this.enqueue(h, () => {
        const batch = h.unwritten;
        h.unwritten = [];
        return appendMinutes(h.file, batch);
      });
    }
    this.compactIfStale(h);
  }

  private prune(h: VpgHistory): void {
    const keptFrom = this.now() - METRICS_MINUTE_RETENTION_MS - 60_000;
    let drop = 0;
    while (drop < h.minutes.length && (h.minutes[drop] as MinuteEntry).point.time < keptFrom) {
      drop += 1;
    }
    if (drop > 0) h.minutes = h.minutes.slice(drop);
  }

  private compactIfStale(h: VpgHistory): void {
    if (h.compactQueued || h.fileLines <= h.minutes.length + this.slack) return;
    h.compactQueued = true;
    // Taken when it runs: the rewrite holds every closed minute, so nothing stays unwritten.
    this.enqueue(h, () => {
      const kept = [...h.minutes];
      h.unwritten = [];
      h.fileLines = kept.length;
      h.compactQueued = false;
      return rewriteMinutes(h.file, kept);
    });
  }

  private enqueue(h: VpgHistory, op: () => Promise<void>): void {
    h.writes = h.writes
      .then(() => (h.removed ? undefined : op()))
      .catch((err: unknown) =>
        this.options.log.warn({ err, vpgId: h.vpgId }, 'cannot write the metrics history'),
      );
  }

  private history(vpgId: string): VpgHistory {
    let h = this.vpgs.get(vpgId);
    if (h === undefined) {
      h = {
        vpgId,
        file: this.fileOf(vpgId),
        ring: new SecondRing(SECOND_SLOTS),
        minutes: [],
        current: undefined,
        unwritten: [],
        compactQueued: false,
        fileLines: 0,
        writes: Promise.resolve(),
        removed: false,
      };
      this.vpgs.set(vpgId, h);
    }
    return h;
  }

  private fileOf(vpgId: string): string {
    // VPG ids are UUIDs; the encoding only guards against a name that is not a plain file name.
    return join(this.options.dir, `${encodeURIComponent(vpgId).replace(/^\./, '%2E')}${SUFFIX}`);
  }
}
