import { formatDuration } from '../units/duration';
import { FAILOVER_TASK_TYPES, type Task, type TaskType } from './task-schemas';

/**
 * Tasks in words, one definition for every place that names them: the console's tasks drawer
 * and failover view, and the desktop notification when a long task ends (shown by Electron's
 * main process or by the browser's Notification API).
 */

const TASK_TYPE_TEXT: Readonly<Partial<Record<TaskType, string>>> = {
  InitialSync: 'Initial sync',
  Resync: 'Resync',
  ExportDisk: 'Disk export',
  FailoverTest: 'Test failover',
  StopFailoverTest: 'Stopping the test',
  FailoverLive: 'Live failover',
  FailoverMove: 'Move',
  FailoverCommit: 'Commit',
  FailoverRollback: 'Roll back',
  Promote: 'Promotion',
};

/**
 * "Initial sync", "Test failover"; a type without words of its own yet is spelt out from its
 * name ("CollectLogs" → "Collect logs"), so a new task type never shows blank.
 */
export function taskTypeText(type: TaskType): string {
  return (
    TASK_TYPE_TEXT[type] ??
    type.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').replace(/ [A-Z]/g, (c) => c.toLowerCase())
  );
}

/**
 * Tasks long enough that an admin turns to something else while they run, so their end is
 * worth a desktop notification: syncs, exports and every failover task.
 */
export const LONG_TASK_TYPES: ReadonlySet<TaskType> = new Set<TaskType>([
  'InitialSync',
  'Resync',
  'ExportDisk',
  ...FAILOVER_TASK_TYPES,
]);

type TaskState = Pick<Task, 'status' | 'completionCode'>;

export function isTaskEnded(task: Pick<Task, 'status'>): boolean {
  return task.status === 'Completed' || task.status === 'Aborted';
}

/** "Running", "Completed", "Failed", "Aborted", "Error" (it threw: HadException), "Waiting". */
export function taskOutcomeText(task: TaskState): string {
  if (task.status === 'Active') return 'Waiting';
  if (task.status === 'Running') return 'Running';
  if (task.status === 'Aborted') return 'Aborted';
  switch (task.completionCode) {
    case 'Success':
    case 'NotAvailable':
      return 'Completed';
    case 'Failed':
      return 'Failed';
    case 'Aborted':
      return 'Aborted';
    case 'HadException':
      return 'Error';
  }
}

/**
 * Whether `next` is the end of a long task that was seen running (`previous`): a task first
 * seen already ended (a list loaded after a reconnect) is old news, not worth a notification.
 */
export function endsLongTask(previous: TaskState | undefined, next: Task): boolean {
  return (
    previous !== undefined &&
    !isTaskEnded(previous) &&
    isTaskEnded(next) &&
    LONG_TASK_TYPES.has(next.type)
  );
}

/**
 * Follows tasks as they change (key: the agent's and the task's id) and answers, for each
 * change, whether it is the end of a long task seen running. Only running tasks are kept.
 */
export function watchLongTaskEnds(): (key: string, task: Task) => boolean {
  const running = new Map<string, TaskState>();
  return (key, task) => {
    const previous = running.get(key);
    if (isTaskEnded(task)) running.delete(key);
    else running.set(key, { status: task.status, completionCode: task.completionCode });
    return endsLongTask(previous, task);
  };
}

export interface TaskNotificationText {
  readonly title: string;
  readonly body: string;
}

/**
 * "Initial sync completed: Payroll" / "Took 4 min 10 s"; a failure says why
 * ("Failed after 12 s: the recovery site is unreachable").
 */
export function taskEndedNotification(
  task: Pick<Task, 'type' | 'status' | 'completionCode' | 'startedAt' | 'endedAt' | 'exception'>,
  vpgName: string | undefined,
): TaskNotificationText {
  const outcome = taskOutcomeText(task);
  const what = taskTypeText(task.type);
  const title = `${what} ${outcome.toLowerCase()}${vpgName === undefined ? '' : `: ${vpgName}`}`;
  const took = formatDuration(
    Math.max(0, ((task.endedAt ?? task.startedAt) - task.startedAt) / 1000),
  );
  const ok = task.status === 'Completed' && task.completionCode === 'Success';
  const body = ok
    ? `Took ${took}`
    : `${outcome} after ${took}${task.exception === undefined ? '' : `: ${task.exception}`}`;
  return { title, body };
}
