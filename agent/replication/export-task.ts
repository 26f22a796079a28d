import { lstat, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TidelineError } from '../../app/errors';
import type { TaskManager } from '../tasks/task-manager';
import { errnoMessage, isErrno } from '../store/json-file';
import type { TargetVpg } from './target-vpg';

export interface ExportDiskRequest {
  readonly vpgId: string;
  readonly diskId: string;
  readonly checkpointSeq: number;
  /** Absolute path on this agent's host; must not exist yet. */
  readonly path: string;
}

const STEP = 'Write the image';

/** Paths being written by an export now: two exports to one file would race on its rename. */
const inFlight = new Set<string>();

/**
 * `checkpoint.exportDisk`: checks the request at once (recovery side, disk, consistent
 * checkpoint, a new file in an existing directory), then writes the disk's image at the
 * checkpoint as an ExportDisk task with the journal's export (the code behind
 * `tideline-agent export-disk`): sparse raw file written beside the target and renamed into
 * place, SHA-256 computed on the way. Result: {path, bytes, dataBytes, sha256, checkpointSeq}.
 * Abortable: the partial file is removed.
 */
export async function startExportTask(
  tasks: TaskManager | undefined,
  target: TargetVpg,
  request: ExportDiskRequest,
): Promise<{ taskId: string }> {
  if (tasks === undefined) {
    throw new TidelineError('UNAVAILABLE', 'Tasks are not available on this agent');
  }
  const { vpgId, diskId, checkpointSeq } = request;
  const vpg = target.vpg;
  const disk = [...vpg.disks, ...(vpg.retiredDisks ?? [])].find((d) => d.diskId === diskId);
  if (disk === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `VPG "${vpg.name}" has no disk ${diskId} (its disks: ${vpg.disks.map((d) => d.diskId).join(', ')})`,
      { vpgId, diskId },
    );
  }
  const checkpoint = target.checkpoints().find((c) => c.seq === checkpointSeq);
  if (checkpoint === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `VPG "${vpg.name}" has no checkpoint ${checkpointSeq} at this recovery site: choose one that checkpoint.list shows (older ones have left the journal's history)`,
      { vpgId, checkpointSeq },
    );
  }
  if (checkpoint.inconsistent === true) {
    throw new TidelineError(
      'CONFLICT',
      `Checkpoint ${checkpointSeq} of VPG "${vpg.name}" was taken during an initial sync or resync and is not a consistent image: choose a later one`,
      { vpgId, checkpointSeq },
    );
  }
  const path = resolve(request.path);
  await checkNewFile(path);
  if (inFlight.has(path)) {
    throw new TidelineError('ALREADY_EXISTS', `Another export is writing ${path} now`, { path });
  }
  inFlight.add(path);
  try {
    const task = tasks.run(
      {
        type: 'ExportDisk',
        vpgId,
        input: { vpgId, diskId, checkpointSeq, path },
        steps: [STEP],
        totalUnits: disk.sizeBytes,
        abortable: true,
      },
      async (handle) => {
        try {
          handle.step(STEP);
          const image = await target.exportDisk(diskId, checkpointSeq, path, {
            sha256: true,
            onProgress: ({ done, total }) => {
              // Throwing here stops the export; it removes its partial file.
              handle.signal.throwIfAborted();
              handle.progress(done, total === 0 ? 1 : done / total);
            },
          });
          return {
            path,
            bytes: image.bytes,
            dataBytes: image.dataBytes,
            sha256: image.sha256 ?? '',
            checkpointSeq,
          };
        } finally {
          inFlight.delete(path);
        }
      },
    );
    return { taskId: task.taskId };
  } catch (err) {
    inFlight.delete(path);
    throw err;
  }
}

async function checkNewFile(path: string): Promise<void> {
  const existing = await lstat(path).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new TidelineError('CONFLICT', `Cannot check ${path}: ${errnoMessage(err)}`, { path });
  });
  if (existing !== undefined) {
    throw new TidelineError(
      'ALREADY_EXISTS',
      `${path} already exists: give the path of a new file (an export never replaces one)`,
      { path },
    );
  }
  const dir = dirname(path);
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) {
    throw new TidelineError(
      'NOT_FOUND',
      `Directory ${dir} does not exist on the recovery site's agent host: create it first`,
      { path },
    );
  }
}
