import type { SupportLevel } from '../protocol/support-api';
import { parseJsonObject } from './redact';

/**
 * Which log lines a support bundle keeps: the admin's time range and detail level. Works on
 * both loggers' lines: the agent's (level as a label, time as ISO text) and the console's
 * (pino's defaults: level as a number, time in epoch ms).
 */

export interface LogWindow {
  readonly fromTime?: number | undefined;
  readonly toTime?: number | undefined;
  readonly level: SupportLevel;
}

/** pino's level numbers. */
const LEVEL_NUMBERS: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

function levelNumber(level: unknown): number | undefined {
  if (typeof level === 'number') return level;
  if (typeof level === 'string') return LEVEL_NUMBERS[level];
  return undefined;
}

function timeOf(time: unknown): number | undefined {
  if (typeof time === 'number') return time;
  if (typeof time === 'string') {
    const ms = Date.parse(time);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/**
 * Whether a parsed log line is kept. A line without a level or time it can read is kept (it
 * may explain a crash); a line outside the window or below the level is not.
 */
export function keepLogLine(line: Record<string, unknown>, window: LogWindow): boolean {
  const level = levelNumber(line['level']);
  const min = LEVEL_NUMBERS[window.level] ?? LEVEL_NUMBERS['info'];
  if (level !== undefined && min !== undefined && level < min) return false;
  const time = timeOf(line['time']);
  if (time === undefined) return true;
  if (window.fromTime !== undefined && time < window.fromTime) return false;
  if (window.toTime !== undefined && time > window.toTime) return false;
  return true;
}

/**
 * A raw line filtered and redacted: undefined when the window drops it. `redact` turns the
 * parsed line (or the raw text of one that is not JSON) into the text that is kept.
 */
export function filterLogLine(
  raw: string,
  window: LogWindow,
  redact: { line(text: string): string },
): string | undefined {
  if (raw.trim() === '') return undefined;
  const parsed = raw.trimStart().startsWith('{') ? parseJsonObject(raw) : undefined;
  if (parsed !== undefined && !keepLogLine(parsed, window)) return undefined;
  return redact.line(raw);
}
