import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TidelineError } from '../../app/errors';
import { dataDirLayout } from '../config/data-dir';
import { DataDirLock } from '../config/data-dir-lock';
import { UnknownCheckpointError } from '../journal/errors';
import { Journal, type JournalLog } from '../journal/journal';
import { isSafeVpgId, journalDirFor } from '../journal/layout';
import type { CheckpointInfo } from '../journal/state-files';
import { formatBytes } from '../util/bytes';
import { UsageError } from './usage';

export const EXPORT_DISK_HELP = `Usage: tideline-agent export-disk --data-dir DIR --vpg VPG --disk DISK --checkpoint C --out FILE

Writes disk DISK of VPG VPG, as it was at checkpoint C, from this (recovery) site's journal
and replica to FILE as a raw image (sparse: zero regions are holes). C is a checkpoint seq, a
checkpoint name (the newest with that name) or "latest" (the newest consistent checkpoint).
Progress goes to stderr; the last line on stdout is:

  sha256=<hex of the image> bytes=<image size> checkpoint=<seq> out=<FILE>

Run it while the agent is stopped: a running agent holds its data directory's lock, and
export-disk then exits 2 at once, naming it. Opening the journal repairs it as the agent
would (cuts a torn tail, finishes an interrupted apply); nothing else is changed.

Options:
  --data-dir DIR          The agent's data directory; default $TIDELINE_DATA_DIR
  --vpg VPG               VPG id (its journal is DIR/journal/VPG/)
  --disk DISK             Disk id within the VPG
  --checkpoint C          Checkpoint seq, name, or "latest"
  --out FILE              Image to write (replaced atomically if it exists)
  --allow-inconsistent    Also accept a checkpoint taken during initial sync or resync
  -h, --help              Show this help

Exit status: 0 exported; 2 the data directory is in use; 64 bad usage; 1 any other error
(unknown VPG, disk or checkpoint, damaged journal).
`;

const OPTIONS = {
  'data-dir': { type: 'string' },
  vpg: { type: 'string' },
  disk: { type: 'string' },
  checkpoint: { type: 'string' },
  out: { type: 'string' },
  'allow-inconsistent': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ExportDiskRequest {
  readonly dataDir: string;
  readonly vpgId: string;
  readonly diskId: string;
  /** A checkpoint seq, name, or "latest". */
  readonly checkpoint: string;
  readonly out: string;
  readonly allowInconsistent: boolean;
  readonly onProgress?: (done: number, total: number) => void;
  readonly log?: JournalLog;
}

export interface ExportDiskResult {
  readonly checkpoint: CheckpointInfo;
  readonly bytes: number;
  readonly dataBytes: number;
  readonly sha256: string;
  readonly out: string;
}

/** `tideline-agent export-disk …`: resolves with the exit status. */
export async function exportDiskCli(args: readonly string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: [...args], options: OPTIONS, strict: true }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    process.stdout.write(EXPORT_DISK_HELP);
    return 0;
  }
  const dataDir = values['data-dir'] ?? process.env['TIDELINE_DATA_DIR'];
  const required = { '--data-dir DIR': dataDir, ...pick(values) };
  for (const [flag, value] of Object.entries(required)) {
    if (value === undefined || value.trim() === '') throw new UsageError(`Missing ${flag}`);
  }
  const progress = progressPrinter();
  const result = await exportDiskImage({
    dataDir: dataDir as string,
    vpgId: values.vpg as string,
    diskId: values.disk as string,
    checkpoint: values.checkpoint as string,
    out: values.out as string,
    allowInconsistent: values['allow-inconsistent'] === true,
    onProgress: progress,
    log: {
      warn: (_fields, message) => process.stderr.write(`tideline-agent: warning: ${message}\n`),
      info: () => undefined,
    },
  });
  process.stderr.write(
    `Exported disk ${values.disk} of VPG ${values.vpg} at checkpoint ${describe(result.checkpoint)}: ${formatBytes(result.bytes)}, ${formatBytes(result.dataBytes)} of data.\n`,
  );
  process.stdout.write(
    `sha256=${result.sha256} bytes=${result.bytes} checkpoint=${result.checkpoint.seq} out=${result.out}\n`,
  );
  return 0;
}

/**
 * Takes the data directory's lock, opens the VPG's journal, writes the image, and closes and
 * releases both again.
 */
export async function exportDiskImage(request: ExportDiskRequest): Promise<ExportDiskResult> {
  if (!isSafeVpgId(request.vpgId)) throw new UsageError(`--vpg "${request.vpgId}" is not a VPG id`);
  const layout = dataDirLayout(request.dataDir);
  const dir = journalDirFor(layout.root, request.vpgId);
  // A data directory (or at least the journal) before a lock file is made in it.
  if (!existsSync(layout.configFile) && !existsSync(join(dir, 'journal.json'))) {
    throw new TidelineError(
      'NOT_FOUND',
      `VPG ${request.vpgId} has no journal in ${layout.root} (no ${dir}/journal.json)`,
    );
  }
  const lock = DataDirLock.acquire(layout.root, layout.lockFile, 'export-disk');
  try {
    return await exportLocked(request, dir);
  } finally {
    lock.release();
  }
}

async function exportLocked(request: ExportDiskRequest, dir: string): Promise<ExportDiskResult> {
  let journal: Journal;
  try {
    journal = await Journal.openExisting(
      dir,
      request.log === undefined ? {} : { log: request.log },
    );
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') {
      throw new TidelineError(
        'NOT_FOUND',
        `VPG ${request.vpgId} has no journal in ${resolve(request.dataDir)} (no ${dir}/journal.json)`,
      );
    }
    throw err;
  }
  try {
    const checkpoint = chooseCheckpoint(journal, request.checkpoint, request.allowInconsistent);
    const out = resolve(request.out);
    const image = await journal.exportDisk(request.diskId, checkpoint.seq, out, {
      allowInconsistent: request.allowInconsistent,
      sha256: true,
      ...(request.onProgress !== undefined && {
        onProgress: (p: { done: number; total: number }) => request.onProgress?.(p.done, p.total),
      }),
    });
    return {
      checkpoint,
      bytes: image.bytes,
      dataBytes: image.dataBytes,
      sha256: image.sha256 ?? '',
      out,
    };
  } finally {
    await journal.close();
  }
}

/** "latest", a seq, or a name (the newest checkpoint with it). */
export function chooseCheckpoint(
  journal: Journal,
  spec: string,
  allowInconsistent: boolean,
): CheckpointInfo {
  const all = journal.checkpoints();
  let found: CheckpointInfo | undefined;
  if (spec === 'latest') {
    found = journal.latestCheckpoint({ consistent: !allowInconsistent });
  } else if (/^\d+$/.test(spec)) {
    found = all.find((c) => c.seq === Number(spec));
    // Not retained: let exportDisk say whether it is too old or never existed.
    if (found === undefined) return { seq: Number(spec), sourceTime: 0 };
  } else {
    found = all.findLast((c) => c.name === spec);
  }
  if (found === undefined) throw new UnknownCheckpointError(journal.vpgId, `"${spec}"`);
  return found;
}

function pick(values: {
  vpg?: string | undefined;
  disk?: string | undefined;
  checkpoint?: string | undefined;
  out?: string | undefined;
}): Record<string, string | undefined> {
  return {
    '--vpg VPG': values.vpg,
    '--disk DISK': values.disk,
    '--checkpoint C': values.checkpoint,
    '--out FILE': values.out,
  };
}

function describe(c: CheckpointInfo): string {
  const when = c.sourceTime > 0 ? ` (${new Date(c.sourceTime).toISOString()})` : '';
  return `${c.seq}${c.name !== undefined ? ` "${c.name}"` : ''}${when}`;
}

/** Percent progress on stderr: in place on a terminal, a line per 10% otherwise. */
function progressPrinter(): (done: number, total: number) => void {
  const tty = process.stderr.isTTY;
  let shown = -1;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.floor((done * 100) / total);
    const step = tty ? percent : percent - (percent % 10);
    if (step === shown) return;
    shown = step;
    const text = `export: ${percent}% (${done} of ${total} bytes)`;
    process.stderr.write(tty ? `\r${text}${done >= total ? '\n' : ''}` : `${text}\n`);
  };
}
