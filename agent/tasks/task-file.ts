import { rename } from 'node:fs/promises';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { TaskSchema, type Task } from '../../app/task/task-schemas';
import type { Logger } from '../log';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

const TaskFileSchema = z.object({ version: z.literal(1), tasks: z.array(TaskSchema) });

/**
 * `state/tasks.json`: the task history, oldest first. A missing file is an empty history; a
 * damaged one is set aside (renamed `.bad-<time>`) rather than stopping the agent, since task
 * history is a record for the admin, not state replication depends on.
 */
export async function readTaskFile(path: string, log: Logger): Promise<Task[]> {
  try {
    return (await readJsonFile(path, TaskFileSchema, 'Task history')).tasks;
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') return [];
    const aside = `${path}.bad-${Date.now()}`;
    log.error(
      { err: err instanceof Error ? err.message : String(err), aside },
      'the task history cannot be read: starting a new one',
    );
    await rename(path, aside).catch(() => undefined);
    return [];
  }
}

/**
 * Writes the history atomically, one write at a time: asking while a write runs marks the
 * file dirty and one more write follows with the newest tasks (writes coalesce, never pile up).
 */
export class TaskFileWriter {
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => Task[],
    private readonly log: Logger,
  ) {}

  /** Starts a write (or marks one to follow); resolves once the newest state is on disk. */
  save(): Promise<void> {
    this.dirty = true;
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Waits for the write in progress, if any. */
  async idle(): Promise<void> {
    await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      try {
        await writeJsonAtomic(this.path, { version: 1, tasks: this.snapshot() });
      } catch (err) {
        this.log.error({ err, path: this.path }, 'cannot save the task history');
      }
    }
  }
}
