import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { formatPath, IdSchema, VpgSchema } from '../../app/protocol';
import type { PeerLink } from '../peer/peer-link';
import { RetiredDiskSchema } from './vpg-store';

/**
 * The peer control methods of replication (agent ↔ agent over the link's control channel).
 * The protected site's agent calls them on the recovery site's agent; each side validates
 * what it receives, as for the console protocol.
 */
export const VPG_PREPARE = 'vpg.prepare';
export const VPG_DROP = 'vpg.drop';
export const VPG_CHECKPOINTS = 'vpg.checkpoints';
export const VPG_USAGE = 'vpg.usage';
/** Asked before vpg.remove: refused (CONFLICT) while a failover or test holds the VPG there. */
export const VPG_CHECK_REMOVABLE = 'vpg.checkRemovable';

/**
 * Create the target side of a VPG (journal and replicas), or bring it to this configuration
 * (vpg.update, addVm, removeVm: see vpg-changes.ts). Idempotent.
 */
export const PrepareParamsSchema = z.object({
  vpg: VpgSchema,
  /** Disks removed from the VPG whose records up to `untilSeq` may still be on the way. */
  retiredDisks: z.array(RetiredDiskSchema).optional(),
});
export type PrepareParams = z.infer<typeof PrepareParamsSchema>;
export const PrepareResultSchema = z.object({ position: z.number().int().nonnegative() });

export const VpgRefSchema = z.object({ vpgId: IdSchema });
export const DropResultSchema = z.object({ dropped: z.boolean() });
export const RemovableResultSchema = z.object({ removable: z.literal(true) });

export const TargetCheckpointSchema = z.object({
  seq: z.number().int().positive(),
  sourceTime: z.number().int(),
  name: z.string().optional(),
  inconsistent: z.literal(true).optional(),
});
export const CheckpointsResultSchema = z.object({
  lastSeq: z.number().int().nonnegative(),
  checkpoints: z.array(TargetCheckpointSchema),
});

export const UsageResultSchema = z.object({
  bytes: z.number().int().nonnegative(),
  hardLimitBytes: z.number().int().nonnegative(),
  lastSeq: z.number().int().nonnegative(),
  appliedSeq: z.number().int().nonnegative(),
});
export type TargetUsage = z.infer<typeof UsageResultSchema>;

/** Validates what a peer sent; INVALID_PARAMS / INVALID_RESULT with the offending field. */
export function parsePeer<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: 'INVALID_PARAMS' | 'INVALID_RESULT' = 'INVALID_PARAMS',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TidelineError(
    code,
    `${what} is not valid${issue === undefined ? '' : ` at ${formatPath(issue.path)}: ${issue.message}`}`,
  );
}

/** Calls a replication control method of the peer and validates its answer. */
export async function callPeer<S extends z.ZodType>(
  link: PeerLink,
  method: string,
  params: unknown,
  result: S,
  timeoutMs?: number,
): Promise<z.output<S>> {
  const answer = await link.request(method, params, timeoutMs);
  return parsePeer(
    result,
    answer,
    `The answer of the recovery site to ${method}`,
    'INVALID_RESULT',
  );
}
