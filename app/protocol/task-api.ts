import { z } from 'zod';
import {
  CompletionCodeSchema,
  TaskSchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from '../task/task-schemas';
import { IdSchema } from './common';
import { method, type NotificationTable } from './method-table';

const TaskRef = z.strictObject({ taskId: IdSchema });

export const taskMethods = {
  'task.list': method(
    z
      .strictObject({
        vpgId: IdSchema.optional(),
        type: TaskTypeSchema.optional(),
        status: TaskStatusSchema.optional(),
        /** Newest first; at most this many (default 100). */
        limit: z.number().int().min(1).max(1000).default(100),
      })
      .optional(),
    z.array(TaskSchema),
    'Tasks of this agent, newest first, optionally of one VPG, type or status.',
  ),
  'task.get': method(TaskRef, TaskSchema, 'One task with its steps and progress.'),
  'task.completionCode': method(
    TaskRef,
    z.object({ taskId: IdSchema, completionCode: CompletionCodeSchema }),
    'How a task ended (NotAvailable while it runs).',
  ),
  'task.result': method(
    TaskRef,
    z.object({ taskId: IdSchema, result: z.record(z.string(), z.unknown()).optional() }),
    'What a completed task produced.',
  ),
  'task.exception': method(
    TaskRef,
    z.object({ taskId: IdSchema, exception: z.string().optional() }),
    'Why a task failed or was aborted.',
  ),
  'task.waitFor': method(
    z.strictObject({
      taskId: IdSchema,
      timeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
    }),
    TaskSchema,
    'Resolve with the task once it has ended; TIMEOUT if it is still running after timeoutMs.',
  ),
  'task.abort': method(
    TaskRef,
    TaskSchema,
    'Stop a task where that is safe; CONFLICT if it cannot be aborted or has ended.',
  ),
} as const;

export const taskNotifications = {
  /** The task as it is now, on every change of status or step and at most once a second. */
  'task.progress': TaskSchema,
} as const satisfies NotificationTable;
