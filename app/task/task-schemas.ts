import { z } from 'zod';
import { IdSchema } from '../protocol/common';

/**
 * Tasks: every long operation (initial sync, resync, disk export, later failovers) answers at
 * once with a task id and runs in the background. The agent keeps its tasks across restarts;
 * one interrupted by a restart ends Completed/Failed with a reason, never stuck Running.
 */

export const TaskTypeSchema = z.enum([
  'InitialSync',
  'Resync',
  'ExportDisk',
  'FailoverTest',
  'StopFailoverTest',
  'FailoverLive',
  'FailoverMove',
  'FailoverCommit',
  'FailoverRollback',
  /** After a commit: the journal written into the replica disks under the running VMs. */
  'Promote',
  /** log.collect: a support bundle of logs, state summaries and system facts. */
  'CollectLogs',
]);
export type TaskType = z.infer<typeof TaskTypeSchema>;

/** The task types a failover runs (its bring-up and what follows it). */
export const FAILOVER_TASK_TYPES: ReadonlySet<TaskType> = new Set<TaskType>([
  'FailoverTest',
  'StopFailoverTest',
  'FailoverLive',
  'FailoverMove',
  'FailoverCommit',
  'FailoverRollback',
  'Promote',
]);

/** Active: accepted, not started yet. Aborted: stopped on request before it completed. */
export const TaskStatusSchema = z.enum(['Active', 'Running', 'Aborted', 'Completed']);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

/** NotAvailable while the task has not ended. */
export const CompletionCodeSchema = z.enum([
  'NotAvailable',
  'Success',
  'Aborted',
  'Failed',
  'HadException',
]);
export type CompletionCode = z.infer<typeof CompletionCodeSchema>;

/**
 * The first step of an initial sync or resync on a hypervisor that mirrors its VMs' disks into
 * the agent (libvirt): the tap attaches to every disk before it is read.
 */
export const ATTACH_STEP = "Attach to the VMs' disks";

export const TaskStepSchema = z.object({
  name: z.string(),
  /** 0..1 */
  progress: z.number().min(0).max(1),
  status: z.enum(['Pending', 'Running', 'Done', 'Failed', 'Skipped']),
});
export type TaskStep = z.infer<typeof TaskStepSchema>;

export const TaskSchema = z.object({
  taskId: IdSchema,
  type: TaskTypeSchema,
  vpgId: IdSchema.optional(),
  /** What the task was asked to do (its params), for the admin. */
  input: z.record(z.string(), z.unknown()),
  status: TaskStatusSchema,
  completionCode: CompletionCodeSchema,
  /** 0..1 over the whole task. */
  progress: z.number().min(0).max(1),
  steps: z.array(TaskStepSchema),
  /** Work done and in all, in the task's unit (bytes for syncs and exports). */
  doneUnits: z.number().nonnegative().optional(),
  totalUnits: z.number().nonnegative().optional(),
  /** Estimated seconds left, once there is a rate to estimate from. */
  etaSeconds: z.number().nonnegative().optional(),
  startedAt: z.number().int(),
  updatedAt: z.number().int(),
  endedAt: z.number().int().optional(),
  /** Why it failed or was aborted, for the admin (never a stack trace). */
  exception: z.string().optional(),
  /** What it produced, once Completed/Success. */
  result: z.record(z.string(), z.unknown()).optional(),
  /** Whether task.abort may stop it. */
  abortable: z.boolean(),
});
export type Task = z.infer<typeof TaskSchema>;

export const TaskRefSchema = z.object({ taskId: IdSchema });
export type TaskRef = z.infer<typeof TaskRefSchema>;
