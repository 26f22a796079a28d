import { TidelineError } from '../errors';
import { MINUTES_PER_WEEK } from '../policy/wall-clock';

/**
 * Change-rate profiles for VPGs that do not exist yet (README.md § Profiles): templates scaled
 * by the peak an admin types, and a CSV of per-minute rates. A profile is one value per minute
 * of the week (bytes per second), from Monday 00:00 in the site's time zone.
 */

export { MINUTES_PER_WEEK };

export const PROFILE_TEMPLATES = ['office-file-server', 'database-nightly-backup', 'vdi'] as const;
export type ProfileTemplate = (typeof PROFILE_TEMPLATES)[number];

export const TEMPLATE_NAMES: Record<ProfileTemplate, string> = {
  'office-file-server': 'Office file server',
  'database-nightly-backup': 'Database with a nightly backup',
  vdi: 'Virtual desktops (VDI)',
};

const at = (h: number, m = 0): number => h * 60 + m;

/** Share of the peak at a minute of the day, weekday or weekend, for a template. */
function level(template: ProfileTemplate, minute: number, weekend: boolean): number {
  switch (template) {
    case 'office-file-server':
      if (weekend) return 0.03;
      if (minute >= at(12) && minute < at(13)) return 0.35; // lunch
      if (minute >= at(8) && minute < at(18)) return 0.6;
      if (minute >= at(22) && minute < at(22, 30)) return 1; // nightly sync job
      return 0.05;
    case 'database-nightly-backup':
      if (minute >= at(2) && minute < at(3)) return 1; // backup dump and index rebuild
      if (!weekend && minute >= at(8) && minute < at(19)) return 0.5;
      return 0.3;
    case 'vdi':
      if (weekend) return 0.02;
      if (minute >= at(7, 45) && minute < at(9)) return 1; // boot storm
      if (minute >= at(17) && minute < at(17, 30)) return 0.7; // logoff, profile writes
      if (minute >= at(9) && minute < at(17)) return 0.4;
      return 0.02;
  }
}

/** A template's week scaled so that its peak is `peakBytesPerSecond`. */
export function templateProfile(
  template: ProfileTemplate,
  peakBytesPerSecond: number,
): Float64Array {
  const rates = new Float64Array(MINUTES_PER_WEEK);
  for (let m = 0; m < MINUTES_PER_WEEK; m++) {
    const day = Math.floor(m / 1440);
    rates[m] = peakBytesPerSecond * level(template, m % 1440, day >= 5);
  }
  return rates;
}

export interface CsvProfile {
  readonly rates: Float64Array;
  /** Minutes the file did not give, filled with the value before them. */
  readonly filledMinutes: number;
}

export interface CsvProblem {
  readonly line: number;
  readonly message: string;
}

const MAX_CSV_BYTES = 8 * 1024 * 1024;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/**
 * A CSV of per-minute rates in MB/s (10^6 bytes per second). Either one value per line, 10 080
 * lines from Monday 00:00; or `time,MB/s` rows with the time as "Mon 08:00" (minutes not
 * given repeat the value before them). A header line and blank lines are skipped. Throws a
 * INVALID_PARAMS error listing the problems with their line numbers (the first 20) instead of
 * guessing.
 */
export function parseRatesCsv(text: string): CsvProfile {
  if (text.length > MAX_CSV_BYTES) {
    throw csvError([{ line: 0, message: 'the file is larger than 8 MB' }]);
  }
  const problems: CsvProblem[] = [];
  const given = new Float64Array(MINUTES_PER_WEEK).fill(NaN);
  const lines = text.split(/\r?\n/);
  let sequential = 0;
  let timed: boolean | undefined;
  for (let i = 0; i < lines.length && problems.length < 20; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split(/[,;\t]/).map((c) => c.trim());
    const valueText = cells.at(-1) ?? '';
    const value = Number(valueText);
    if (!Number.isFinite(value)) {
      if (i === 0) continue; // a header
      problems.push({ line: i + 1, message: `"${valueText}" is not a number of MB/s` });
      continue;
    }
    if (value < 0 || value > 100_000) {
      problems.push({ line: i + 1, message: `${value} MB/s is out of range (0 to 100 000)` });
      continue;
    }
    const isTimed = cells.length >= 2;
    if (timed === undefined) timed = isTimed;
    if (timed !== isTimed) {
      problems.push({ line: i + 1, message: 'mixes rows with and without a time' });
      continue;
    }
    let minute: number;
    if (isTimed) {
      const parsed = minuteOfWeek(cells[0] ?? '');
      if (parsed === undefined) {
        problems.push({ line: i + 1, message: `"${cells[0]}" is not a time like Mon 08:00` });
        continue;
      }
      minute = parsed;
    } else {
      minute = sequential++;
      if (minute >= MINUTES_PER_WEEK) {
        problems.push({ line: i + 1, message: 'more than 10 080 values (one week of minutes)' });
        continue;
      }
    }
    given[minute] = value * 1e6;
  }
  if (problems.length === 0 && Number.isNaN(given.find((v) => !Number.isNaN(v)) ?? NaN)) {
    problems.push({ line: 0, message: 'the file has no rates' });
  }
  if (problems.length > 0) throw csvError(problems);
  // Fill gaps with the value before them (wrapping from the end of the week).
  let last = NaN;
  for (let m = MINUTES_PER_WEEK - 1; m >= 0 && Number.isNaN(last); m--) last = given[m] as number;
  let filled = 0;
  const rates = new Float64Array(MINUTES_PER_WEEK);
  for (let m = 0; m < MINUTES_PER_WEEK; m++) {
    const v = given[m] as number;
    if (Number.isNaN(v)) filled++;
    else last = v;
    rates[m] = last;
  }
  return { rates, filledMinutes: filled };
}

function minuteOfWeek(text: string): number | undefined {
  const match = /^([A-Za-z]{3})[a-z]*\s+([01]?\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match === null) return undefined;
  const day = DAYS.indexOf((match[1] ?? '').toLowerCase());
  if (day < 0) return undefined;
  return day * 1440 + Number(match[2]) * 60 + Number(match[3]);
}

function csvError(problems: readonly CsvProblem[]): TidelineError {
  const text = problems
    .map((p) => (p.line > 0 ? `line ${p.line}: ${p.message}` : p.message))
    .join('; ');
  return new TidelineError('INVALID_PARAMS', `The rates file cannot be used: ${text}`, {
    problems: problems.map((p) => ({ ...p })),
  });
}
