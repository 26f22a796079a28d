import { appendFile, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  CheckpointChangeSchema,
  CheckpointDiskChangeSchema,
  type CheckpointChange,
} from '../../app/protocol';
import { writeFileAtomic } from '../store/atomic-file';
import { isErrno } from '../store/json-file';
import { ChangeSignal, MEMORY_PAGE_BYTES, type SignalDisk } from './change-signal';

/**
 * Where a received VPG's clean-point signal lives, beside its journal (the journal ignores
 * files that are not its own, and the VPG's removal deletes the directory with them):
 *
 *   checkpoint-change.ndjson  one line per checkpoint: {seq, change}. Appended as checkpoints
 *                             arrive (no fsync: the figures are advice; a line lost to a power
 *                             cut leaves its checkpoint without figures, the same as a checkpoint
 *                             from before this existed). Rewritten without the lines of released
 *                             checkpoints once they are most of the file.
 *   change-memory.bin         the low-block memory and the open interval's counts, written at a
 *                             clean close and removed when read, so a stale one is never used
 *                             after a crash (the first interval is then marked partial).
 */
export const CHANGE_FILE = 'checkpoint-change.ndjson';
export const MEMORY_FILE = 'change-memory.bin';
const MEMORY_MAGIC = 'tideline-change-memory 1\n';

const ChangeLineSchema = z.strictObject({
  seq: z.number().int().positive(),
  change: CheckpointChangeSchema,
});

const MemoryHeaderSchema = z.strictObject({
  lastSeq: z.number().int().nonnegative(),
  disks: z.array(
    z.strictObject({
      diskId: z.string().min(1),
      shift: z.number().int().nonnegative(),
      pages: z.array(z.number().int().nonnegative()),
    }),
  ),
  /** The counts of the interval in progress at the close. */
  open: z.array(CheckpointDiskChangeSchema),
  partial: z.boolean(),
});

export interface LoadedFigures {
  readonly figures: Map<number, CheckpointChange>;
  readonly lines: number;
}

/** Reads the figures file; a torn last line (a crash mid-append) is cut, bad lines skipped. */
export async function loadFigures(dir: string): Promise<LoadedFigures> {
  const path = join(dir, CHANGE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { figures: new Map(), lines: 0 };
    throw err;
  }
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) await truncate(path, Buffer.byteLength(text.slice(0, end)));
  const figures = new Map<number, CheckpointChange>();
  let lines = 0;
  for (const line of text.slice(0, end).split('\n')) {
    if (line === '') continue;
    lines += 1;
    const parsed = parseLine(line);
    if (parsed !== undefined) figures.set(parsed.seq, parsed.change);
  }
  return { figures, lines };
}

function parseLine(line: string): z.infer<typeof ChangeLineSchema> | undefined {
  try {
    const parsed = ChangeLineSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function formatLine(seq: number, change: CheckpointChange): string {
  return `${JSON.stringify({ seq, change })}\n`;
}

export function appendFigures(dir: string, seq: number, change: CheckpointChange): Promise<void> {
  return appendFile(join(dir, CHANGE_FILE), formatLine(seq, change));
}

export async function rewriteFigures(
  dir: string,
  figures: ReadonlyMap<number, CheckpointChange>,
): Promise<void> {
  const text = [...figures].map(([seq, change]) => formatLine(seq, change)).join('');
  await writeFileAtomic(join(dir, CHANGE_FILE), text);
}

/**
 * The signal as a clean close left it at `lastSeq`, or a fresh one: partial when the journal
 * already holds records that no saved memory describes. The file is removed once read.
 */
export async function loadSignal(
  dir: string,
  disks: readonly SignalDisk[],
  lastSeq: number,
  atCheckpoint: boolean,
): Promise<{ signal: ChangeSignal; restored: boolean }> {
  const path = join(dir, MEMORY_FILE);
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(path);
    await rm(path, { force: true });
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const saved = bytes === undefined ? undefined : parseMemory(bytes);
  if (saved === undefined || saved.header.lastSeq !== lastSeq) {
    // Nothing known of the interval in progress (unless the journal ends on a checkpoint), nor
    // of what the blocks held: turned-high counts only blocks seen low from now on.
    return {
      signal: new ChangeSignal(disks, { partial: lastSeq > 0 && !atCheckpoint }),
      restored: false,
    };
  }
  const signal = new ChangeSignal(disks);
  let at = saved.bodyStart;
  for (const disk of saved.header.disks) {
    const memory = signal.memoryOf(disk.diskId);
    for (const index of disk.pages) {
      const page = saved.bytes.subarray(at, at + MEMORY_PAGE_BYTES);
      at += MEMORY_PAGE_BYTES;
      // A disk that is gone, or resized (another grouping): its memory does not apply.
      if (memory?.shift === disk.shift) memory.restore(index, page);
    }
  }
  signal.resumeInterval(saved.header.open, saved.header.partial);
  return { signal, restored: true };
}

/** Writes the memory for the next open (a clean close), atomically. */
export async function saveSignal(
  dir: string,
  signal: ChangeSignal,
  lastSeq: number,
  disks: readonly SignalDisk[],
): Promise<void> {
  const parts: Buffer[] = [];
  const open = signal.openInterval();
  const header: z.infer<typeof MemoryHeaderSchema> = {
    lastSeq,
    disks: [],
    open: open.disks,
    partial: open.partial,
  };
  for (const { diskId } of disks) {
    const memory = signal.memoryOf(diskId);
    if (memory === undefined) continue;
    const pages = memory.snapshot();
    header.disks.push({ diskId, shift: memory.shift, pages: pages.map((p) => p.index) });
    for (const page of pages)
      parts.push(Buffer.from(page.bits.buffer, page.bits.byteOffset, page.bits.length));
  }
  const head = Buffer.from(`${MEMORY_MAGIC}${JSON.stringify(header)}\n`);
  await writeFileAtomic(join(dir, MEMORY_FILE), Buffer.concat([head, ...parts]));
}

function parseMemory(
  bytes: Buffer,
): { header: z.infer<typeof MemoryHeaderSchema>; bytes: Buffer; bodyStart: number } | undefined {
  if (bytes.toString('utf8', 0, MEMORY_MAGIC.length) !== MEMORY_MAGIC) return undefined;
  const lineEnd = bytes.indexOf(10, MEMORY_MAGIC.length);
  if (lineEnd < 0) return undefined;
  let header: z.infer<typeof MemoryHeaderSchema>;
  try {
    const parsed = MemoryHeaderSchema.safeParse(
      JSON.parse(bytes.toString('utf8', MEMORY_MAGIC.length, lineEnd)),
    );
    if (!parsed.success) return undefined;
    header = parsed.data;
  } catch {
    return undefined;
  }
  const pages = header.disks.reduce((n, d) => n + d.pages.length, 0);
  const bodyStart = lineEnd + 1;
  if (bytes.length !== bodyStart + pages * MEMORY_PAGE_BYTES) return undefined;
  return { header, bytes, bodyStart };
}
