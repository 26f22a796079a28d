import { appendFile, mkdir, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { MetricsPointSchema } from '../../app/metrics/metrics-schemas';
import { writeFileAtomic } from '../store/atomic-file';
import { isErrno } from '../store/json-file';
import type { MinuteEntry } from './minute-aggregate';

/**
 * A VPG's minute history on disk: one JSON line per minute, appended as minutes complete. A
 * minute may appear again later (a partial minute flushed at stop, completed after a restart):
 * the last line for a time wins. Compaction rewrites the file atomically with what is kept.
 */

const MinuteLineSchema = MetricsPointSchema.extend({ seconds: z.number().int().nonnegative() });

export interface LoadedMinutes {
  /** Oldest first, one per minute. */
  readonly entries: MinuteEntry[];
  /** Lines in the file (valid or not), to know when compaction pays. */
  readonly lines: number;
  /** Complete lines that did not parse (skipped). */
  readonly invalid: number;
  /** Bytes of a torn last line cut off (a crash in the middle of an append). */
  readonly tornBytes: number;
}

export async function loadMinutes(path: string): Promise<LoadedMinutes> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { entries: [], lines: 0, invalid: 0, tornBytes: 0 };
    throw err;
  }
  const end = text.lastIndexOf('\n') + 1;
  const tornBytes = Buffer.byteLength(text.slice(end));
  // Cut the torn tail, or the next append would glue a good line onto it.
  if (tornBytes > 0) await truncate(path, Buffer.byteLength(text.slice(0, end)));
  const byTime = new Map<number, MinuteEntry>();
  let lines = 0;
  let invalid = 0;
  for (const line of text.slice(0, end).split('\n')) {
    if (line === '') continue;
    lines += 1;
    const parsed = parseLine(line);
    if (parsed === undefined) {
      invalid += 1;
      continue;
    }
    byTime.set(parsed.point.time, parsed);
  }
  const entries = [...byTime.values()].sort((a, b) => a.point.time - b.point.time);
  return { entries, lines, invalid, tornBytes };
}

export async function appendMinutes(path: string, entries: readonly MinuteEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, entries.map(formatLine).join(''));
}

export async function rewriteMinutes(path: string, entries: readonly MinuteEntry[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, entries.map(formatLine).join(''));
}

function formatLine(entry: MinuteEntry): string {
  return `${JSON.stringify({ ...entry.point, seconds: entry.seconds })}\n`;
}

function parseLine(line: string): MinuteEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = MinuteLineSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const { seconds, ...point } = parsed.data;
  return { point, seconds };
}
