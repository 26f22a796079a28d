import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { IdSchema } from '../../app/protocol';
import { CheckpointAppliedError } from '../journal/errors';
import type { PeerLink } from '../peer/peer-link';
import { blockDigests } from '../source/block-hasher';
import { callPeer } from './vpg-control';

/**
 * `vpg.hashes`, the peer control method of delta sync (delta-sync.ts): the protected site asks
 * the recovery site for the block hashes of its view of some extents of a disk as of one seq —
 * the replica plus every journal record up to `atSeq`. The target first waits (bounded) until
 * its journal holds every record up to `atSeq`. If its replica was already applied past
 * `atSeq`, that view is gone: it answers `appliedPast` and the source sends the extents whole.
 */
export const VPG_HASHES = 'vpg.hashes';

/** Bytes of extents one request may cover (the target reads them into memory). */
export const MAX_HASH_REQUEST_BYTES = 16 * 1024 * 1024;
const MIN_BLOCK = 4096;
const MAX_BLOCK = 4 * 1024 * 1024;

const Offset = z.number().int().nonnegative();

export const HashesParamsSchema = z
  .strictObject({
    vpgId: IdSchema,
    diskId: IdSchema,
    /** The source read the extents when its last seq was this. */
    atSeq: z.number().int().nonnegative(),
    blockBytes: z.number().int().min(MIN_BLOCK).max(MAX_BLOCK),
    extents: z
      .array(z.strictObject({ offset: Offset, length: z.number().int().positive() }))
      .min(1)
      .max(1024),
  })
  .refine((p) => p.extents.reduce((n, e) => n + e.length, 0) <= MAX_HASH_REQUEST_BYTES, {
    message: `at most ${MAX_HASH_REQUEST_BYTES} bytes per request`,
    path: ['extents'],
  });
export type HashesParams = z.infer<typeof HashesParamsSchema>;

export const HashesResultSchema = z.union([
  z.strictObject({
    /** Per extent, per block: base64 SHA-256, or null for an all-zero block. */
    hashes: z.array(z.array(z.string().nullable())),
  }),
  z.strictObject({ appliedPast: z.number().int().nonnegative() }),
]);
export type HashesResult = z.infer<typeof HashesResultSchema>;

/** What the target needs to answer: its journal's view, and a wait for records to arrive. */
export interface HashableView {
  waitFor(seq: number, timeoutMs: number): Promise<void>;
  readAsOf(
    diskId: string,
    extents: readonly { offset: number; length: number }[],
    seq: number,
  ): Promise<Buffer[]>;
}

/** How long the target waits for the records up to atSeq (the source's request waits longer). */
export const HASH_WAIT_MS = 20_000;
const HASH_REQUEST_TIMEOUT_MS = 30_000;

/** The target's answer to vpg.hashes (params already validated). */
export async function answerHashes(
  view: HashableView,
  params: HashesParams,
  waitMs: number = HASH_WAIT_MS,
): Promise<HashesResult> {
  await view.waitFor(params.atSeq, waitMs);
  let data: Buffer[];
  try {
    data = await view.readAsOf(params.diskId, params.extents, params.atSeq);
  } catch (err) {
    if (err instanceof CheckpointAppliedError) {
      const applied = (err.data as { appliedSeq?: unknown } | undefined)?.appliedSeq;
      return { appliedPast: typeof applied === 'number' ? applied : params.atSeq + 1 };
    }
    throw err;
  }
  return { hashes: data.map((d) => blockDigests(d, params.blockBytes)) };
}

/** The source's way to the target's hashes (a peer link, or a direct call in tests). */
export interface TargetHashes {
  hashes(params: HashesParams): Promise<HashesResult>;
}

/** TargetHashes over a peer link's control channel. */
export function linkHashes(link: PeerLink): TargetHashes {
  return {
    hashes: (params) =>
      callPeer(link, VPG_HASHES, params, HashesResultSchema, HASH_REQUEST_TIMEOUT_MS),
  };
}

/** The failures after which a delta sync is simply tried again later (the link, mostly). */
export function isTransient(err: unknown): boolean {
  return (
    err instanceof TidelineError &&
    (err.code === 'CONNECTION_CLOSED' || err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT')
  );
}
