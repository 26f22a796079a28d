import { z } from 'zod';
import { IdSchema } from './common';
import { method, type NotificationTable } from './method-table';
import {
  LogCollectFields,
  RANGE_ORDER_ERROR,
  SUPPORT_CHUNK_MAX_BYTES,
  rangeInOrder,
} from './support-api';

/**
 * Support bundles in the ConsoleApi. `support.collect` has each chosen agent collect a bundle
 * (log.collect), downloads them, and writes one tar.gz with every agent's files under
 * `<site>-<host>/` plus the console's own log; an agent that is offline or fails is listed in
 * problems.json instead of failing the whole bundle. Progress is pushed as `support.progress`;
 * the renderer then reads the archive in chunks (`support.read`) into a file the admin saves.
 */

const EpochMs = z.number().int().nonnegative();

/** Agents one bundle may gather from at most. */
export const SUPPORT_MAX_AGENTS = 64;

export const SupportCollectParamsSchema = z
  .strictObject({
    agentKeys: z
      .array(IdSchema)
      .min(1, 'choose at least one agent')
      .max(SUPPORT_MAX_AGENTS)
      .refine((keys) => new Set(keys).size === keys.length, 'an agent is listed twice'),
    ...LogCollectFields,
  })
  .refine(rangeInOrder, RANGE_ORDER_ERROR);
export type SupportCollectParams = z.input<typeof SupportCollectParamsSchema>;

export const SupportAgentStateSchema = z.enum([
  'waiting',
  'collecting',
  'downloading',
  'done',
  'failed',
]);
export type SupportAgentState = z.infer<typeof SupportAgentStateSchema>;

export const SupportAgentProgressSchema = z.object({
  agentKey: IdSchema,
  /** "<site> / <host>" as the console knows the agent (its address before a first hello). */
  name: z.string(),
  state: SupportAgentStateSchema,
  /** 0..1 of this agent's part. */
  progress: z.number().min(0).max(1),
  /** Why it failed (also in the archive's problems.json). */
  message: z.string().optional(),
});
export type SupportAgentProgress = z.infer<typeof SupportAgentProgressSchema>;

export const SupportCollectionSchema = z.object({
  collectionId: IdSchema,
  /** collecting: agents at work; ready: the archive can be read; failed: there is none. */
  state: z.enum(['collecting', 'ready', 'failed']),
  /** 0..1 over all agents and the archive. */
  progress: z.number().min(0).max(1),
  agents: z.array(SupportAgentProgressSchema),
  /** The name to save the archive as (tideline-support-<date>.tar.gz). */
  fileName: z.string(),
  /** Once ready. */
  bytes: z.number().int().nonnegative().optional(),
  sha256: z.string().optional(),
  /** Why the collection failed as a whole (state failed). */
  error: z.string().optional(),
  startedAt: EpochMs,
});
export type SupportCollection = z.infer<typeof SupportCollectionSchema>;

const CollectionRef = z.strictObject({ collectionId: IdSchema });

export const supportConsoleMethods = {
  'support.collect': method(
    SupportCollectParamsSchema,
    SupportCollectionSchema,
    'Collect a support bundle from these agents plus the console’s log into one tar.gz; answers at once, progress as support.progress.',
  ),
  'support.get': method(
    CollectionRef,
    SupportCollectionSchema,
    'A collection as it is now (for a dialog that opens between two support.progress).',
  ),
  'support.read': method(
    z.strictObject({
      collectionId: IdSchema,
      offset: z.number().int().nonnegative(),
      length: z.number().int().min(1).max(SUPPORT_CHUNK_MAX_BYTES),
    }),
    z.object({
      offset: z.number().int().nonnegative(),
      /** Base64 of the bytes read. */
      data: z.string(),
      eof: z.boolean(),
    }),
    'Read up to 1 MiB of a ready archive, base64.',
  ),
  'support.discard': method(
    CollectionRef,
    z.object({ discarded: z.boolean() }),
    'Delete a collection’s archive (after it was saved, or to cancel).',
  ),
} as const;

export const supportConsoleNotifications = {
  /** A collection's progress: every agent state change and at most once a second otherwise. */
  'support.progress': SupportCollectionSchema,
} as const satisfies NotificationTable;
