import { EventEmitter } from 'node:events';
import type { ProtectionTask, ProtectionTasks, Task } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Logger } from '../util/log';
import type { Clock } from '../util/clock';

export type TaskEvents = { 'protection.task': [ProtectionTask] };

/** Ended tasks stay listed this long (a page that opens just after still shows the outcome). */
const ENDED_KEEP_MS = 60_000;
/** How many tasks of an agent are asked for when it connects. */
const LOAD_LIMIT = 50;

/**
 * The tasks of the connected agents as their task.progress reports them (the agent sends one
 * on every status or step change and at most once a second per task), forwarded as
 * protection.task; when an agent connects, its recent tasks are loaded with task.list so a
 * sync already under way shows at once.
 */
export class TaskStore extends EventEmitter<TaskEvents> {
  /** agentKey → taskId → task, and when it ended (console clock). */
  private readonly tasks = new Map<
    string,
    Map<string, { task: ProtectionTask; endedAt?: number }>
  >();
  private readonly detachers = new Map<string, () => void>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    super();
  }

  attach(connection: AgentConnection): void {
    this.detach(connection.key);
    const record = (task: Task): void => {
      const siteId = connection.agentIdentity?.siteId;
      if (siteId !== undefined) this.record(connection.key, siteId, task);
    };
    let loaded = false;
    const onChange = (): void => {
      if (!connection.isConnected) {
        loaded = false;
        this.tasks.delete(connection.key);
        return;
      }
      if (loaded) return;
      loaded = true;
      connection.call('task.list', { limit: LOAD_LIMIT }).then(
        (tasks) => {
          for (const task of [...tasks].reverse()) record(task);
        },
        (err: unknown) =>
          this.logger.debug(
            { key: connection.key, err: err instanceof Error ? err.message : String(err) },
            'task.list failed (an older agent?)',
          ),
      );
    };
    connection.on('task.progress', record);
    connection.on('change', onChange);
    onChange();
    this.detachers.set(connection.key, () => {
      connection.off('task.progress', record);
      connection.off('change', onChange);
    });
  }

  /** Stops listening to an agent and forgets its tasks. */
  detach(key: string): void {
    this.detachers.get(key)?.();
    this.detachers.delete(key);
    this.tasks.delete(key);
  }

  record(agentKey: string, siteId: string, task: Task): void {
    let byId = this.tasks.get(agentKey);
    if (byId === undefined) this.tasks.set(agentKey, (byId = new Map()));
    const known = byId.get(task.taskId);
    // task.list and task.progress may cross: never go back to an older state.
    if (known !== undefined && known.task.updatedAt > task.updatedAt) return;
    const ended = task.status === 'Completed' || task.status === 'Aborted';
    // An old task from task.list: not worth showing (the agent's clock, near enough).
    if (ended && known === undefined && this.clock.now() - (task.endedAt ?? 0) > ENDED_KEEP_MS) {
      return;
    }
    const entry = {
      task: { ...task, siteId, agentKey },
      ...(ended && { endedAt: this.clock.now() }),
    };
    byId.set(task.taskId, entry);
    this.prune();
    this.emit('protection.task', entry.task);
  }

  /** Running tasks and those that ended in the last minute, oldest first. */
  list(): ProtectionTasks {
    this.prune();
    const tasks: ProtectionTask[] = [];
    for (const byId of this.tasks.values()) for (const { task } of byId.values()) tasks.push(task);
    tasks.sort((a, b) => a.startedAt - b.startedAt);
    return { tasks };
  }

  close(): void {
    for (const key of [...this.detachers.keys()]) this.detach(key);
  }

  private prune(): void {
    const cutoff = this.clock.now() - ENDED_KEEP_MS;
    for (const byId of this.tasks.values()) {
      for (const [taskId, { endedAt }] of byId) {
        if (endedAt !== undefined && endedAt < cutoff) byId.delete(taskId);
      }
    }
  }
}
