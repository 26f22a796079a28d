import { randomUUID } from 'node:crypto';
import { TidelineError, isTidelineError } from '../../app/errors';
import type {
  CompletionCode,
  Task,
  TaskStatus,
  TaskStep,
  TaskType,
} from '../../app/task/task-schemas';
import type { Logger } from '../log';
import { drop } from '../util/drop';
import { EtaEstimator } from './eta';
import { TaskFileWriter, readTaskFile } from './task-file';

/** What a task is, when it is created. */
export interface TaskSpec {
  readonly type: TaskType;
  readonly vpgId?: string;
  /** Its parameters, shown to the admin. */
  readonly input: Record<string, unknown>;
  /** Step names, in order (more may be added as it runs). */
  readonly steps?: readonly string[];
  readonly totalUnits?: number;
  /** Whether task.abort may stop it (the owner then stops on `signal`). */
  readonly abortable: boolean;
}

/** The owner's side of a running task. Calls after the task ended are ignored. */
export interface TaskHandle {
  readonly taskId: string;
  /** Aborted by task.abort (abortable tasks only) and when the agent stops. */
  readonly signal: AbortSignal;
  readonly ended: boolean;
  /** Active → Running. */
  start(): void;
  setTotal(units: number): void;
  /** Makes `name` the running step (the one before is Done). */
  step(name: string): void;
  /** Work done so far, and optionally how far the running step is (0..1). */
  progress(doneUnits: number, stepProgress?: number): void;
  /** Completed/Success. */
  succeed(result?: Record<string, unknown>): void;
  /** Completed/Failed (a TidelineError) or Completed/HadException (anything else). */
  fail(err: unknown): void;
  /** Aborted, with the reason. */
  aborted(reason: string): void;
}

export interface TaskFilter {
  readonly vpgId?: string | undefined;
  readonly type?: TaskType | undefined;
  readonly status?: TaskStatus | undefined;
  readonly limit?: number | undefined;
}

export interface TaskManagerOptions {
  /** `state/tasks.json` */
  readonly file: string;
  readonly log: Logger;
  /** task.progress to the consoles. */
  readonly notify: (task: Task) => void;
  /** Ended tasks kept (default 500). */
  readonly historyLimit?: number;
  /** Progress notifications per task at most this often (default 1 s). */
  readonly progressIntervalMs?: number;
  /** Progress-only changes are saved at most this often (default 5 s). */
  readonly saveIntervalMs?: number;
  /** task.abort and stop() wait this long for a task to wind down (default 10 s). */
  readonly windDownMs?: number;
}

export const RESTART_INTERRUPTION = 'Interrupted: the agent restarted while this task ran';
export const STOP_INTERRUPTION = 'Interrupted: the agent stopped while this task ran';

interface Live {
  readonly controller: AbortController;
  readonly eta: EtaEstimator;
  readonly ended: Promise<Task>;
  readonly end: (task: Task) => void;
  lastNotifiedAt: number;
  notifyTimer: NodeJS.Timeout | undefined;
  /** The work run() drives, to wait for on stop. */
  work: Promise<void> | undefined;
}

const isEnded = (task: Task): boolean => task.status === 'Completed' || task.status === 'Aborted';

/**
 * The agent's tasks: every long operation (initial sync, resync, disk export) answers at once
 * with a task id and runs in the background. Tasks go Active → Running → Completed (Success,
 * Failed or HadException) or Aborted; their progress, steps and ETA are sent to the consoles
 * as `task.progress` (on every status or step change, progress at most once a second) and
 * kept in `state/tasks.json`, so the history survives restarts. A task that was running when
 * the agent stopped or crashed ends Completed/Failed as interrupted: never stuck Running.
 */
export class TaskManager {
  /** Oldest first (a Map keeps insertion order). */
  private readonly tasks = new Map<string, Task>();
  private readonly live = new Map<string, Live>();
  private readonly writer: TaskFileWriter;
  private saveTimer: NodeJS.Timeout | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(private readonly options: TaskManagerOptions) {
    this.writer = new TaskFileWriter(
      options.file,
      () => [...this.tasks.values()],
      options.log.child({ component: 'tasks' }),
    );
  }

  /** Loads the history; tasks that were Active or Running end as interrupted. */
  async start(): Promise<{ interrupted: number }> {
    const loaded = await readTaskFile(this.options.file, this.options.log);
    const now = Date.now();
    let interrupted = 0;
    for (const task of loaded) {
      if (isEnded(task)) {
        this.tasks.set(task.taskId, task);
      } else {
        interrupted += 1;
        this.tasks.set(task.taskId, ended(task, now, 'Failed', RESTART_INTERRUPTION));
      }
    }
    this.trim();
    this.state = 'running';
    if (interrupted > 0) {
      this.options.log.warn({ interrupted }, 'tasks interrupted by a restart marked Failed');
      await this.writer.save();
    }
    return { interrupted };
  }

  /**
   * Ends every running task as interrupted (aborting what runs), saves, and waits a moment
   * for their work to stop. Later reports from the owners are ignored.
   */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    const reason = new TidelineError('UNAVAILABLE', STOP_INTERRUPTION);
    const works: Promise<void>[] = [];
    for (const [taskId, live] of this.live) {
      const task = this.tasks.get(taskId);
      if (task !== undefined)
        this.finish(taskId, ended(task, Date.now(), 'Failed', reason.message));
      live.controller.abort(reason);
      if (live.work !== undefined) works.push(live.work);
    }
    this.state = 'stopped';
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.writer.save();
    await withTimeout(Promise.allSettled(works), this.options.windDownMs ?? 10_000);
  }

  /** Saves the history now (progress is otherwise saved every few seconds). */
  flush(): Promise<void> {
    return this.writer.save();
  }

  /** Creates a task (Active) that its owner drives through the handle. */
  begin(spec: TaskSpec): TaskHandle {
    if (this.state !== 'running') {
      throw new TidelineError(
        'UNAVAILABLE',
        'The agent is starting or stopping: retry in a moment',
      );
    }
    const now = Date.now();
    const taskId = randomUUID();
    const task: Task = {
      taskId,
      type: spec.type,
      ...(spec.vpgId !== undefined && { vpgId: spec.vpgId }),
      input: spec.input,
      status: 'Active',
      completionCode: 'NotAvailable',
      progress: 0,
      steps: (spec.steps ?? []).map((name) => ({ name, progress: 0, status: 'Pending' })),
      ...(spec.totalUnits !== undefined && { doneUnits: 0, totalUnits: spec.totalUnits }),
      startedAt: now,
      updatedAt: now,
      abortable: spec.abortable,
    };
    let end: (task: Task) => void = () => undefined;
    const endedPromise = new Promise<Task>((resolve) => {
      end = resolve;
    });
    const live: Live = {
      controller: new AbortController(),
      eta: new EtaEstimator(),
      ended: endedPromise,
      end,
      lastNotifiedAt: 0,
      notifyTimer: undefined,
      work: undefined,
    };
    this.tasks.set(taskId, task);
    this.live.set(taskId, live);
    this.trim();
    this.changed(taskId, 'status');
    return this.handle(taskId, live);
  }

  /**
   * Creates a task and runs `work` in the background: Completed/Success with what it
   * returns, Failed/HadException if it throws, Aborted if it throws after its signal fired.
   * Resolves with the task as created (Active).
   */
  run(spec: TaskSpec, work: (task: TaskHandle) => Promise<Record<string, unknown> | void>): Task {
    const handle = this.begin(spec);
    const live = this.live.get(handle.taskId) as Live;
    const created = this.require(handle.taskId);
    live.work = (async () => {
      handle.start();
      try {
        const result = await work(handle);
        handle.succeed(result ?? undefined);
      } catch (err) {
        if (handle.signal.aborted) handle.aborted(abortMessage(handle.signal.reason));
        else handle.fail(err);
      }
    })();
    return created;
  }

  list(filter: TaskFilter = {}): Task[] {
    const limit = filter.limit ?? 100;
    const found: Task[] = [];
    for (const task of [...this.tasks.values()].reverse()) {
      if (filter.vpgId !== undefined && task.vpgId !== filter.vpgId) continue;
      if (filter.type !== undefined && task.type !== filter.type) continue;
      if (filter.status !== undefined && task.status !== filter.status) continue;
      found.push(task);
      if (found.length >= limit) break;
    }
    return found;
  }

  get(taskId: string): Task {
    return this.require(taskId);
  }

  /** The task once it has ended; TIMEOUT if it is still running after `timeoutMs`. */
  async waitFor(taskId: string, timeoutMs: number): Promise<Task> {
    const task = this.require(taskId);
    const live = this.live.get(taskId);
    if (isEnded(task) || live === undefined) return task;
    const outcome = await withTimeout(live.ended, timeoutMs);
    if (outcome !== undefined) return outcome;
    const now = this.require(taskId);
    throw new TidelineError(
      'TIMEOUT',
      `Task ${taskId} (${now.type}) is still ${now.status} after ${timeoutMs} ms: ${Math.floor(now.progress * 100)} % done${now.etaSeconds !== undefined ? `, about ${now.etaSeconds} s left` : ''}`,
      { taskId, progress: now.progress },
    );
  }

  /** Aborts an abortable running task and waits (briefly) for it to stop. */
  async abort(taskId: string): Promise<Task> {
    const task = this.require(taskId);
    const live = this.live.get(taskId);
    if (isEnded(task) || live === undefined) {
      throw new TidelineError(
        'CONFLICT',
        `Task ${taskId} has already ended (${task.status}/${task.completionCode})`,
        { taskId },
      );
    }
    if (!task.abortable) {
      throw new TidelineError(
        'CONFLICT',
        `A ${task.type} task cannot be aborted safely: it ends by itself (remove the VPG to stop a sync)`,
        { taskId },
      );
    }
    live.controller.abort(
      new TidelineError('CONFLICT', 'Aborted by an administrator (task.abort)'),
    );
    return (await withTimeout(live.ended, this.options.windDownMs ?? 10_000)) ?? this.get(taskId);
  }

  // ───────────────────────── internals ─────────────────────────

  private handle(taskId: string, live: Live): TaskHandle {
    const update = (patch: (task: Task, now: number) => Task | undefined, kind: ChangeKind) => {
      const task = this.tasks.get(taskId);
      if (this.state !== 'running' || task === undefined || isEnded(task)) return;
      const next = patch(task, Date.now());
      if (next === undefined) return;
      this.tasks.set(taskId, next);
      this.changed(taskId, kind);
    };
    const isOver = (): boolean => {
      const task = this.tasks.get(taskId);
      return task === undefined || isEnded(task);
    };
    return {
      taskId,
      signal: live.controller.signal,
      get ended() {
        return isOver();
      },
      start: () =>
        update(
          (t, now) =>
            t.status === 'Active' ? { ...t, status: 'Running', updatedAt: now } : undefined,
          'status',
        ),
      setTotal: (units) =>
        update(
          (t, now) => ({ ...t, totalUnits: units, doneUnits: t.doneUnits ?? 0, updatedAt: now }),
          'progress',
        ),
      step: (name) =>
        update((t, now) => {
          const steps: TaskStep[] = t.steps.map((s) =>
            s.status === 'Running' ? { ...s, status: 'Done', progress: 1 } : s,
          );
          const at = steps.findIndex((s) => s.name === name);
          const running: TaskStep = { name, progress: 0, status: 'Running' };
          if (at >= 0) steps[at] = running;
          else steps.push(running);
          const progress = t.totalUnits === undefined ? stepsProgress(steps) : t.progress;
          return { ...t, status: 'Running', steps, progress, updatedAt: now };
        }, 'step'),
      progress: (doneUnits, stepProgress) =>
        update((t, now) => {
          const total = t.totalUnits;
          const eta = total !== undefined ? live.eta.update(now, doneUnits, total) : undefined;
          const steps =
            stepProgress === undefined
              ? t.steps
              : t.steps.map((s) =>
                  s.status === 'Running' ? { ...s, progress: clamp01(stepProgress) } : s,
                );
          // A task without units (a failover) progresses by its steps.
          const progress =
            total !== undefined && total > 0
              ? clamp01(doneUnits / total)
              : total === undefined
                ? stepsProgress(steps)
                : t.progress;
          const { etaSeconds: _old, ...rest } = t;
          return {
            ...rest,
            doneUnits: Math.max(0, doneUnits),
            progress,
            steps,
            ...(eta !== undefined && { etaSeconds: eta }),
            updatedAt: now,
          };
        }, 'progress'),
      succeed: (result) =>
        update((t, now) => {
          const done = ended(t, now, 'Success', undefined);
          return {
            ...done,
            progress: 1,
            ...(t.totalUnits !== undefined && { doneUnits: t.totalUnits }),
            ...(result !== undefined && { result }),
          };
        }, 'end'),
      fail: (err) =>
        update((t, now) => {
          if (isTidelineError(err)) return ended(t, now, 'Failed', err.message);
          this.options.log.error({ err, taskId, type: t.type }, 'task failed unexpectedly');
          const message = err instanceof Error ? err.message : String(err);
          return ended(t, now, 'HadException', `Unexpected error: ${message}`);
        }, 'end'),
      aborted: (reason) => update((t, now) => ended(t, now, 'Aborted', reason), 'end'),
    };
  }

  /** Notifies and saves after a change: at once for status and steps, throttled for progress. */
  private changed(taskId: string, kind: ChangeKind): void {
    const task = this.tasks.get(taskId);
    const live = this.live.get(taskId);
    if (task === undefined || live === undefined) return;
    if (kind === 'end') {
      this.finish(taskId, task);
      this.log(task);
      drop(this.writer.save(), () => undefined);
      return;
    }
    if (kind === 'progress') {
      this.notifyThrottled(taskId, live);
      this.saveSoon();
      return;
    }
    this.notifyNow(taskId, live);
    drop(this.writer.save(), () => undefined);
  }

  /** Records an ended task, tells the consoles and the waiters, forgets the live part. */
  private finish(taskId: string, task: Task): void {
    const live = this.live.get(taskId);
    this.tasks.set(taskId, task);
    if (live === undefined) return;
    this.live.delete(taskId);
    if (live.notifyTimer !== undefined) clearTimeout(live.notifyTimer);
    this.send(task);
    live.end(task);
  }

  private notifyThrottled(taskId: string, live: Live): void {
    if (live.notifyTimer !== undefined) return;
    const wait = live.lastNotifiedAt + (this.options.progressIntervalMs ?? 1000) - Date.now();
    if (wait <= 0) {
      this.notifyNow(taskId, live);
      return;
    }
    live.notifyTimer = setTimeout(() => {
      live.notifyTimer = undefined;
      if (this.live.get(taskId) === live) this.notifyNow(taskId, live);
    }, wait);
    live.notifyTimer.unref();
  }

  private notifyNow(taskId: string, live: Live): void {
    if (live.notifyTimer !== undefined) clearTimeout(live.notifyTimer);
    live.notifyTimer = undefined;
    live.lastNotifiedAt = Date.now();
    const task = this.tasks.get(taskId);
    if (task !== undefined) this.send(task);
  }

  private send(task: Task): void {
    try {
      this.options.notify(task);
    } catch (err) {
      this.options.log.error({ err, taskId: task.taskId }, 'cannot notify task progress');
    }
  }

  private saveSoon(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      if (this.state === 'running') drop(this.writer.save(), () => undefined);
    }, this.options.saveIntervalMs ?? 5000);
    this.saveTimer.unref();
  }

  /** Keeps at most historyLimit tasks, dropping the oldest that have ended. */
  private trim(): void {
    let excess = this.tasks.size - (this.options.historyLimit ?? 500);
    if (excess <= 0) return;
    for (const [taskId, task] of this.tasks) {
      if (excess <= 0) break;
      if (!isEnded(task)) continue;
      this.tasks.delete(taskId);
      excess -= 1;
    }
  }

  private log(task: Task): void {
    const fields = {
      taskId: task.taskId,
      type: task.type,
      vpgId: task.vpgId,
      completionCode: task.completionCode,
      seconds: Math.round(((task.endedAt ?? task.updatedAt) - task.startedAt) / 100) / 10,
      ...(task.exception !== undefined && { exception: task.exception }),
    };
    if (task.completionCode === 'Success') this.options.log.info(fields, 'task completed');
    else this.options.log.warn(fields, 'task did not complete');
  }

  private require(taskId: string): Task {
    const task = this.tasks.get(taskId);
    if (task === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `No task ${taskId} on this agent (it may be older than the history kept)`,
        {
          taskId,
        },
      );
    }
    return task;
  }
}

type ChangeKind = 'status' | 'step' | 'progress' | 'end';

/** The task as it ended: Aborted for an abort, Completed otherwise. */
function ended(
  task: Task,
  now: number,
  code: Exclude<CompletionCode, 'NotAvailable'>,
  exception: string | undefined,
): Task {
  const running = code === 'Success' ? 'Done' : 'Failed';
  const steps: TaskStep[] = task.steps.map((s) => {
    if (s.status === 'Running')
      return { ...s, status: running, ...(code === 'Success' && { progress: 1 }) };
    if (s.status === 'Pending') return { ...s, status: 'Skipped' };
    return s;
  });
  const { etaSeconds: _eta, exception: _previous, ...rest } = task;
  return {
    ...rest,
    status: code === 'Aborted' ? 'Aborted' : 'Completed',
    completionCode: code,
    steps,
    updatedAt: now,
    endedAt: now,
    ...(exception !== undefined && { exception }),
  };
}

function abortMessage(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'Aborted';
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

/** The promise's value, or undefined once `ms` have passed. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Overall progress of a task measured by its steps: done ones count whole, the running one in part. */
function stepsProgress(steps: readonly TaskStep[]): number {
  if (steps.length === 0) return 0;
  const done = steps.reduce(
    (n, s) =>
      n +
      (s.status === 'Done' || s.status === 'Skipped' ? 1 : s.status === 'Running' ? s.progress : 0),
    0,
  );
  return clamp01(done / steps.length);
}
