import type { z } from 'zod';
import { exceptionCovers, localDay } from './evaluate';
import {
  DateExceptionSchema,
  POLICY_SCHEMA_VERSION,
  PolicySchema,
  TimeframeSchema,
  type DateException,
  type Policy,
  type PolicyIssue,
  type Timeframe,
} from './policy-schemas';
import { formatRun, minutesOfDay, ownerGrid } from './weekly-grid';
import { DAY_MS, MINUTES_PER_WEEK, isKnownTimeZone } from './wall-clock';

/*
 * Validation: the schema's shape, then the rules an admin needs explained. Every issue has a
 * path such as `timeframes[2].end`. Rules that are deliberately NOT issues:
 * - seeding bandwidth above replication bandwidth: they are separate throttles (seeding
 *   copies whole disks, replication ships changes), so either may be the larger;
 * - a day listed twice in `days`: counted once.
 */

/** Overlap runs listed per pair of timeframes before "and N more". */
const MAX_RUNS_SHOWN = 3;

export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

function nameAt(input: unknown, index: number): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const tfs = (input as { timeframes?: unknown }).timeframes;
  if (!Array.isArray(tfs)) return undefined;
  const name = (tfs[index] as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name.trim() !== '' ? name.trim() : undefined;
}

/** Schema issues, prefixed with the timeframe's name where there is one. */
function shapeIssues(input: unknown, error: z.ZodError): PolicyIssue[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const [head, index] = issue.path;
    const name = head === 'timeframes' && typeof index === 'number' ? nameAt(input, index) : '';
    const field = String(issue.path[issue.path.length - 1] ?? 'policy');
    const where = name ? `${name}: ` : head === 'default' ? 'Default: ' : '';
    const message =
      head === 'schemaVersion'
        ? `Schema version ${JSON.stringify((input as { schemaVersion?: unknown }).schemaVersion)} is not supported; this version of Tideline reads version ${POLICY_SCHEMA_VERSION}`
        : `${where}${field} — ${issue.message}`;
    return { path, message };
  });
}

function overlapIssues(timeframes: readonly { tf: Timeframe; index: number }[]): PolicyIssue[] {
  // Doubly-claimed minutes, grouped per pair into runs of consecutive minutes.
  const runs = new Map<string, { a: number; b: number; minutes: number[] }>();
  ownerGrid(
    timeframes.map((t) => t.tf),
    (minute, earlier, later) => {
      const key = `${earlier}/${later}`;
      let r = runs.get(key);
      if (r === undefined) {
        r = { a: earlier, b: later, minutes: [] };
        runs.set(key, r);
      }
      r.minutes.push(minute);
    },
  );
  const issues: PolicyIssue[] = [];
  for (const { a, b, minutes } of runs.values()) {
    const sorted = [...new Set(minutes)].sort((x, y) => x - y);
    const spans: [number, number][] = [];
    for (const m of sorted) {
      const last = spans[spans.length - 1];
      if (last !== undefined && last[1] === m) last[1] = m + 1;
      else spans.push([m, m + 1]);
    }
    // A run across Sunday → Monday is one run.
    const first = spans[0];
    const lastSpan = spans[spans.length - 1];
    if (
      spans.length > 1 &&
      first !== undefined &&
      lastSpan !== undefined &&
      first[0] === 0 &&
      lastSpan[1] === MINUTES_PER_WEEK
    ) {
      spans.shift();
      lastSpan[1] = MINUTES_PER_WEEK + first[1];
    }
    spans.sort((x, y) => x[0] - y[0]);
    const ta = timeframes[a];
    const tb = timeframes[b];
    if (ta === undefined || tb === undefined) continue;
    const shown = spans.slice(0, MAX_RUNS_SHOWN).map(([s, e]) => formatRun(s, e));
    const more = spans.length > MAX_RUNS_SHOWN ? ` and ${spans.length - MAX_RUNS_SHOWN} more` : '';
    issues.push({
      path: `timeframes[${tb.index}]`,
      message: `${tb.tf.name} overlaps ${ta.tf.name} on ${shown.join(', ')}${more}`,
    });
  }
  return issues;
}

/** Longest window (days) in which exceptions are compared for overlaps: ten years. */
const EXCEPTION_WINDOW_DAYS = 3660;

function exceptionIssues(raw: unknown): PolicyIssue[] {
  if (!Array.isArray(raw)) return [];
  const valid: { ex: DateException; index: number }[] = [];
  raw.forEach((item: unknown, index) => {
    const r = DateExceptionSchema.safeParse(item);
    if (r.success) valid.push({ ex: r.data, index });
  });
  const issues: PolicyIssue[] = [];
  const ids = new Map<string, { ex: DateException; index: number }>();
  const usable: { ex: DateException; index: number }[] = [];
  for (const entry of valid) {
    const { ex, index } = entry;
    const prior = ids.get(ex.id);
    if (prior !== undefined) {
      issues.push({
        path: `exceptions[${index}].id`,
        message: `${ex.name} has the same id as ${prior.ex.name}; each exception needs its own id`,
      });
      continue;
    }
    ids.set(ex.id, entry);
    const days = (localDay(ex.to) - localDay(ex.from)) / DAY_MS;
    if (days < 0) {
      issues.push({
        path: `exceptions[${index}].to`,
        message: `${ex.name} ends (${ex.to}) before it starts (${ex.from})`,
      });
    } else if (ex.recurrence === 'yearly' && days > 365) {
      issues.push({
        path: `exceptions[${index}].to`,
        message: `${ex.name} repeats every year, so it can span at most a year`,
      });
    } else usable.push(entry);
  }
  if (usable.length < 2) return issues;
  // Each exception's days in one window, then the first day any two share.
  const start = Math.min(...usable.map((u) => localDay(u.ex.from)));
  const end = Math.max(...usable.map((u) => localDay(u.ex.to) + 366 * DAY_MS));
  const count = Math.min(EXCEPTION_WINDOW_DAYS, Math.round((end - start) / DAY_MS) + 1);
  const covered = usable.map(({ ex }) => {
    const bits = new Uint8Array(count);
    for (let i = 0; i < count; i++) bits[i] = exceptionCovers(ex, start + i * DAY_MS) ? 1 : 0;
    return bits;
  });
  for (let b = 1; b < usable.length; b++) {
    for (let a = 0; a < b; a++) {
      const shared = (covered[a] as Uint8Array).findIndex(
        (bit, i) => bit === 1 && (covered[b] as Uint8Array)[i] === 1,
      );
      if (shared < 0) continue;
      const later = usable[b] as { ex: DateException; index: number };
      const earlier = usable[a] as { ex: DateException; index: number };
      issues.push({
        path: `exceptions[${later.index}]`,
        message: `${later.ex.name} overlaps ${earlier.ex.name} on ${new Date(start + shared * DAY_MS).toISOString().slice(0, 10)}`,
      });
    }
  }
  return issues;
}

/** Every problem of a policy, with messages an admin understands; `policy` when there are none. */
export function validatePolicy(input: unknown): { policy?: Policy; issues: PolicyIssue[] } {
  const parsed = PolicySchema.safeParse(input);
  const issues: PolicyIssue[] = parsed.success ? [] : shapeIssues(input, parsed.error);
  const obj = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;

  if (typeof obj.timeZone === 'string' && obj.timeZone !== '' && !isKnownTimeZone(obj.timeZone)) {
    issues.push({
      path: 'timeZone',
      message: `Unknown time zone "${obj.timeZone}": use an IANA name such as Europe/Berlin or America/New_York`,
    });
  }

  // The rules below look at every timeframe whose own shape is right, even if others are not.
  const valid: { tf: Timeframe; index: number }[] = [];
  if (Array.isArray(obj.timeframes)) {
    obj.timeframes.forEach((raw: unknown, index) => {
      const r = TimeframeSchema.safeParse(raw);
      if (r.success) valid.push({ tf: r.data, index });
    });
  }

  const firstById = new Map<string, { tf: Timeframe; index: number }>();
  for (const entry of valid) {
    const { tf, index } = entry;
    const prior = firstById.get(tf.id);
    if (prior !== undefined) {
      issues.push({
        path: `timeframes[${index}].id`,
        message: `${tf.name} has the same id as ${prior.tf.name} (timeframes[${prior.index}]); each timeframe needs its own id`,
      });
    } else firstById.set(tf.id, entry);
    if (tf.start === '24:00') {
      issues.push({
        path: `timeframes[${index}].start`,
        message: `${tf.name} cannot start at 24:00; start it at 00:00 instead`,
      });
    } else if (minutesOfDay(tf.start) === minutesOfDay(tf.end)) {
      issues.push({
        path: `timeframes[${index}].end`,
        message: `${tf.name} is empty: it ends when it starts (${tf.start}); for a whole day use 00:00 to 24:00`,
      });
    }
  }

  issues.push(...overlapIssues(valid.filter(({ tf }) => tf.start !== '24:00')));
  issues.push(...exceptionIssues(obj.exceptions));

  return issues.length === 0 && parsed.success ? { policy: parsed.data, issues } : { issues };
}
