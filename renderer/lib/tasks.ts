import type { ProtectionTask } from '../../app/protocol/console-api';
import { ATTACH_STEP } from '../../app/task/task-schemas';
import { formatDuration } from './protection';

/** Initial syncs and resyncs: the tasks a VPG's row shows while they run. */
export function isSyncTask(task: ProtectionTask): boolean {
  return task.type === 'InitialSync' || task.type === 'Resync';
}

export function isRunning(task: ProtectionTask): boolean {
  return task.status === 'Active' || task.status === 'Running';
}

/**
 * The running sync task of each VPG after `task` arrived: a newer task of a VPG replaces the
 * one shown, an ended one leaves the row. Returns `current` itself when nothing changes.
 */
export function mergeSyncTask(
  current: Readonly<Record<string, ProtectionTask>>,
  task: ProtectionTask,
): Readonly<Record<string, ProtectionTask>> {
  const vpgId = task.vpgId;
  if (vpgId === undefined || !isSyncTask(task)) return current;
  const shown = current[vpgId];
  if (shown !== undefined && shown.taskId !== task.taskId && shown.startedAt > task.startedAt) {
    return current;
  }
  if (shown?.taskId === task.taskId && shown.updatedAt > task.updatedAt) return current;
  if (isRunning(task)) return { ...current, [vpgId]: task };
  if (shown?.taskId !== task.taskId) return current;
  const next = { ...current };
  delete next[vpgId];
  return next;
}

/**
 * "Initial sync 42 % · about 3 min left", "Resync 5 % · estimating time left", or while the
 * tap attaches to a libvirt VM's disks "Initial sync: attaching to the VMs' disks 30 %".
 */
export function syncTaskText(task: ProtectionTask): string {
  const what = task.type === 'InitialSync' ? 'Initial sync' : 'Resync';
  const percent = `${Math.floor(task.progress * 100)} %`;
  if (task.status === 'Active') return `${what} starting`;
  const attach = task.steps.find((s) => s.name === ATTACH_STEP && s.status === 'Running');
  if (attach !== undefined) {
    return `${what}: attaching to the VMs' disks ${Math.floor(attach.progress * 100)} %`;
  }
  const left =
    task.etaSeconds === undefined
      ? 'estimating time left'
      : `about ${formatDuration(Math.max(1, task.etaSeconds))} left`;
  return `${what} ${percent} · ${left}`;
}
