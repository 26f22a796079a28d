import type { ProtectionTask } from '../../app/protocol/console-api';
import type { TaskType } from '../../app/task/task-schemas';
import { isTaskEnded, taskOutcomeText, taskTypeText } from '../../app/task/task-text';
import type { ChipColor } from './protection';
import { formatDuration } from './protection';

/**
 * The tasks drawer's list, pure: one key per task, merging, which rows a filter keeps, newest
 * first, and how a row reads (state colour, duration).
 */

/** Tasks of different agents may share an id: the agent's key makes it unique. */
export function taskKey(task: Pick<ProtectionTask, 'agentKey' | 'taskId'>): string {
  return `${task.agentKey}/${task.taskId}`;
}

export type TaskMap = Readonly<Record<string, ProtectionTask>>;

/** How many ended tasks the console window keeps (running ones are always kept). */
export const KEPT_ENDED_TASKS = 1000;

/**
 * `current` with `tasks` merged in: a task never goes back to an older report of itself
 * (task.list and task.progress may cross). Past `keep` ended tasks the oldest go.
 * Returns `current` itself when nothing changed.
 */
export function mergeTasks(
  current: TaskMap,
  tasks: Iterable<ProtectionTask>,
  keep = KEPT_ENDED_TASKS,
): TaskMap {
  let next: Record<string, ProtectionTask> | undefined;
  for (const task of tasks) {
    const key = taskKey(task);
    const known = (next ?? current)[key];
    if (known !== undefined && known.updatedAt > task.updatedAt) continue;
    next ??= { ...current };
    next[key] = task;
  }
  if (next === undefined) return current;
  const ended = Object.values(next).filter(isTaskEnded);
  if (ended.length > keep) {
    ended.sort(newestFirst);
    for (const task of ended.slice(keep)) delete next[taskKey(task)];
  }
  return next;
}

/** Newest first by start; the task id breaks ties so the order never flickers. */
export function newestFirst(a: ProtectionTask, b: ProtectionTask): number {
  return b.startedAt - a.startedAt || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
}

export type TaskShow = 'running' | 'failed' | 'all';

export interface TaskFilter {
  readonly show: TaskShow;
  readonly type: TaskType | 'all';
  /** Words to find in the type, VPG, site or state (any case). */
  readonly text: string;
}

export const ALL_TASKS: TaskFilter = { show: 'all', type: 'all', text: '' };

export function isTaskRunning(task: Pick<ProtectionTask, 'status'>): boolean {
  return !isTaskEnded(task);
}

/** Ended without success: failed, aborted, or completed with an exception. */
export function isTaskFailed(task: Pick<ProtectionTask, 'status' | 'completionCode'>): boolean {
  return isTaskEnded(task) && !(task.status === 'Completed' && task.completionCode === 'Success');
}

/** What a row shows of a task's VPG and site, by id (the estate's names). */
export interface TaskNames {
  vpg(vpgId: string): string | undefined;
  site(siteId: string): string;
}

/**
 * The tasks a filter keeps, newest first; `vpgId` narrows to one VPG (its page's history).
 * Sorting only what is kept keeps a large list cheap.
 */
export function filterTasks(
  tasks: TaskMap,
  filter: TaskFilter,
  names: TaskNames,
  vpgId?: string,
): ProtectionTask[] {
  const words = filter.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const kept = Object.values(tasks).filter((task) => {
    if (vpgId !== undefined && task.vpgId !== vpgId) return false;
    if (filter.show === 'running' && !isTaskRunning(task)) return false;
    if (filter.show === 'failed' && !isTaskFailed(task)) return false;
    if (filter.type !== 'all' && task.type !== filter.type) return false;
    if (words.length === 0) return true;
    const haystack = [
      taskTypeText(task.type),
      task.vpgId === undefined ? '' : (names.vpg(task.vpgId) ?? ''),
      names.site(task.siteId),
      taskOutcomeText(task),
      task.taskId,
    ]
      .join(' ')
      .toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
  return kept.sort(newestFirst);
}

/** How many tasks run now (the collapsed bar's count). */
export function runningCount(tasks: TaskMap): number {
  let n = 0;
  for (const task of Object.values(tasks)) if (isTaskRunning(task)) n += 1;
  return n;
}

/** Seconds from start to end, or to `now` while it runs (never negative: clocks differ). */
export function taskSeconds(task: ProtectionTask, now: number): number {
  const end = task.endedAt ?? (isTaskRunning(task) ? now : task.updatedAt);
  return Math.max(0, (end - task.startedAt) / 1000);
}

/** "< 1 s", "42 s", "3 min 5 s", "1 h 2 min". */
export function taskDurationText(task: ProtectionTask, now: number): string {
  const seconds = Math.floor(taskSeconds(task, now));
  return seconds < 1 ? '< 1 s' : formatDuration(seconds);
}

export const TASK_STATE_COLOR: Readonly<Record<string, ChipColor>> = {
  Waiting: 'default',
  Running: 'info',
  Completed: 'success',
  Failed: 'error',
  Aborted: 'warning',
  Error: 'error',
};

/** The state chip of a row: its words and colour. */
export function taskState(task: ProtectionTask): { label: string; color: ChipColor } {
  const label = taskOutcomeText(task);
  return { label, color: TASK_STATE_COLOR[label] ?? 'default' };
}

/** "14:02:31" today, "3 Mar, 14:02" on another day. */
export function taskStartedText(startedAt: number, now: number): string {
  const at = new Date(startedAt);
  const today = new Date(now).toDateString() === at.toDateString();
  return today
    ? at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : at.toLocaleString(undefined, {
        day: 'numeric',
        month: 'short',
        hour: '2-digit',
        minute: '2-digit',
      });
}
