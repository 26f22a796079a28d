import { z } from 'zod';
import { TaskRefSchema } from '../task/task-schemas';
import { method } from './method-table';

/**
 * Support bundles on the agent protocol. `log.collect` starts a CollectLogs task that writes a
 * tar.gz of the agent's logs, state summaries and system facts (secrets removed) under its
 * data directory; the task's result is a SupportBundle. The console then reads the file in
 * chunks with `log.bundleRead` (base64 in the JSON-RPC answer: the control channel carries
 * text frames only) and frees it with `log.bundleRemove`; bundles nobody fetches expire.
 */

/** The most a `log.bundleRead` returns at once: 1 MiB, about 1.4 MB of base64 in a frame. */
export const SUPPORT_CHUNK_MAX_BYTES = 1024 * 1024;

/** Detail kept from the logs: lines at this level and above (trace keeps everything). */
export const SupportLevelSchema = z.enum(['info', 'debug', 'trace']);
export type SupportLevel = z.infer<typeof SupportLevelSchema>;

export const SupportIncludeSchema = z
  .strictObject({
    /** The agent's log files (JSON lines), filtered by time range and level. */
    logs: z.boolean(),
    /** VPGs, journal and outbox use, peers, tasks, alerts: summaries as JSON. */
    state: z.boolean(),
    /** OS, Node, agent version, CPU and memory, free disk of the data directory, hypervisor. */
    system: z.boolean(),
  })
  .refine((i) => i.logs || i.state || i.system, { message: 'choose at least one part' });
export type SupportInclude = z.infer<typeof SupportIncludeSchema>;

/** Epoch ms; a range the admin picked (the last hour, day, week). */
const EpochMs = z.number().int().nonnegative();

/** What to collect: shared by log.collect and the console's support.collect. */
export const LogCollectFields = {
  fromTime: EpochMs.optional(),
  toTime: EpochMs.optional(),
  level: SupportLevelSchema.default('info'),
  include: SupportIncludeSchema,
};

/** A time range whose ends are in order (for .refine, with RANGE_ORDER_ERROR). */
export function rangeInOrder(p: { fromTime?: number | undefined; toTime?: number | undefined }) {
  return p.fromTime === undefined || p.toTime === undefined || p.fromTime <= p.toTime;
}
export const RANGE_ORDER_ERROR = { message: 'fromTime must not be after toTime', path: ['toTime'] };

export const LogCollectParamsSchema = z
  .strictObject(LogCollectFields)
  .refine(rangeInOrder, RANGE_ORDER_ERROR);
export type LogCollectParams = z.input<typeof LogCollectParamsSchema>;

/** A bundle's id: a UUID the agent chose (never a path: it names a file under the agent's dir). */
export const BundleIdSchema = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a bundle id');

/** Files a bundle lists at most (the agent's logs are 10 files; state and system a few). */
export const SUPPORT_MAX_FILES = 200;
/** The largest bundle an agent writes, and so the largest a console downloads from one. */
export const SUPPORT_MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

export const SupportFileSchema = z.object({
  /** Relative, '/'-separated, within the bundle (logs/agent.3.log, state/vpgs.json, …). */
  path: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a plain relative path')
    .refine((p) => !p.split('/').some((part) => part === '..' || part === '.'), 'no . or ..'),
  bytes: z.number().int().nonnegative(),
});
export type SupportFile = z.infer<typeof SupportFileSchema>;

/** What a CollectLogs task produces (its result), and what the console checks it against. */
export const SupportBundleSchema = z.object({
  bundleId: BundleIdSchema,
  /** Size of the tar.gz. */
  bytes: z.number().int().nonnegative().max(SUPPORT_MAX_BUNDLE_BYTES),
  /** Hex SHA-256 of the tar.gz, for the downloader to check. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(SupportFileSchema).max(SUPPORT_MAX_FILES),
  createdAt: EpochMs,
  /** The agent removes the file by then if nobody removed it before. */
  expiresAt: EpochMs,
  /** Secrets that were found in the files' text and replaced (a count, never the values). */
  redactions: z.number().int().nonnegative(),
});
export type SupportBundle = z.infer<typeof SupportBundleSchema>;

export const BundleReadParamsSchema = z.strictObject({
  bundleId: BundleIdSchema,
  offset: z.number().int().nonnegative().max(SUPPORT_MAX_BUNDLE_BYTES),
  length: z.number().int().min(1).max(SUPPORT_CHUNK_MAX_BYTES),
});

export const BundleChunkSchema = z.object({
  bundleId: BundleIdSchema,
  offset: z.number().int().nonnegative(),
  /** Base64 of the bytes read (fewer than asked at the end of the file). */
  data: z.string().max(Math.ceil(SUPPORT_CHUNK_MAX_BYTES / 3) * 4),
  /** The chunk ends the file. */
  eof: z.boolean(),
});
export type BundleChunk = z.infer<typeof BundleChunkSchema>;

const BundleRef = z.strictObject({ bundleId: BundleIdSchema });

export const supportMethods = {
  'log.collect': method(
    LogCollectParamsSchema,
    TaskRefSchema,
    'Start a CollectLogs task: a tar.gz of logs (time range, level), state summaries and system facts, secrets removed. Its result is a SupportBundle.',
  ),
  'log.bundleRead': method(
    BundleReadParamsSchema,
    BundleChunkSchema,
    'Read up to 1 MiB of a collected bundle, base64; NOT_FOUND for an unknown or expired bundle.',
  ),
  'log.bundleRemove': method(
    BundleRef,
    z.object({ removed: z.boolean() }),
    'Delete a collected bundle now that it has been downloaded.',
  ),
} as const;
