import { z } from 'zod';
import { TaskSchema } from '../task/task-schemas';
import { IdSchema } from './common';
import { NoParams, method } from './method-table';

/**
 * The console's task methods (part of the ConsoleApi): the tasks of every connected agent,
 * for the tasks drawer, the VPG pages and the failover view. Live changes come as the
 * protection.task notification (console-api.ts).
 */

/** An agent's task (task.progress, task.list), with the site and agent that runs it. */
export const ProtectionTaskSchema = TaskSchema.extend({ siteId: IdSchema, agentKey: IdSchema });
export type ProtectionTask = z.infer<typeof ProtectionTaskSchema>;
export const ProtectionTasksSchema = z.object({ tasks: z.array(ProtectionTaskSchema) });
export type ProtectionTasks = z.infer<typeof ProtectionTasksSchema>;

export const TasksHistoryParamsSchema = z.strictObject({
  /** Only this VPG's tasks (of both its sites: syncs run at the protected one, failovers at the recovery one). */
  vpgId: IdSchema.optional(),
  /** Newest first, at most this many in all. */
  limit: z.number().int().min(1).max(500).default(200),
});
export type TasksHistoryParams = z.input<typeof TasksHistoryParamsSchema>;

/** A task of one agent: the console's key of the agent, and the agent's task id. */
export const AgentTaskRefSchema = z.strictObject({ agentKey: IdSchema, taskId: IdSchema });
export type AgentTaskRef = z.infer<typeof AgentTaskRefSchema>;

export const tasksConsoleMethods = {
  'tasks.list': method(
    NoParams,
    ProtectionTasksSchema,
    'The tasks of the connected agents that run now or ended in the last minute, for a page that opens between two protection.task.',
  ),
  'tasks.history': method(
    TasksHistoryParamsSchema,
    ProtectionTasksSchema,
    'The tasks every connected agent keeps (task.list), newest first, optionally of one VPG; an agent that cannot answer is left out.',
  ),
  'tasks.abort': method(
    AgentTaskRefSchema,
    ProtectionTaskSchema,
    'Abort a task through the agent that runs it (task.abort); CONFLICT when the agent refuses (its type cannot be stopped safely, or it has ended).',
  ),
} as const;
