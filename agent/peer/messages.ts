import { z } from 'zod';
import { ErrorCodes, TidelineError, type ErrorCodeName } from '../../app/errors';
import { AddressSchema, IdSchema, formatPath } from '../../app/protocol';
import { protocolError } from './wire';

/*
 * The JSON payloads of the handshake and control frames. Unknown fields are ignored (a newer
 * peer may send more); missing or malformed ones are a protocol error.
 */

const VersionRangeSchema = {
  /** Lowest and highest peer protocol version the sender speaks. */
  min: z.number().int().positive(),
  max: z.number().int().positive(),
};

const IdentityFields = {
  agentId: IdSchema,
  siteId: IdSchema,
  siteName: z.string().max(200),
  /** The sender's advertised replication address (where it can be dialed). */
  address: AddressSchema,
};

/** First frame of a link connection, both ways (the answer has min = max = the agreed one). */
export const HelloSchema = z.object({ ...VersionRangeSchema, ...IdentityFields });
export type Hello = z.infer<typeof HelloSchema>;

/** First frame of a pairing connection (dialer → token issuer). */
export const PairSchema = z.object({
  ...VersionRangeSchema,
  ...IdentityFields,
  token: z.string().min(16).max(256),
});
export type Pair = z.infer<typeof PairSchema>;

/** The token issuer's answer: it has pinned the dialer; here is who it is. */
export const PairOkSchema = z.object({ version: z.number().int().positive(), ...IdentityFields });
export type PairOk = z.infer<typeof PairOkSchema>;

/** Why a connection is refused or closed; the sender closes the connection after it. */
export const RefusalReasons = [
  'not-paired',
  'no-certificate',
  'token-invalid',
  'token-expired',
  'token-used',
  'self',
  'already-paired',
  'version',
  'protocol',
  'frame-too-large',
  'wrong-direction',
  'handshake-timeout',
  'busy',
  'shutting-down',
  'replaced',
  'unpaired',
  'silent',
  'internal',
] as const;
export type RefusalReason = (typeof RefusalReasons)[number];

export const RefusedSchema = z.object({
  /** One of RefusalReasons (a newer peer may send others: treat them as generic). */
  reason: z.string().max(64),
  /** An ErrorCodeName of app/errors. */
  code: z.string().max(64),
  /** For the admin: what happened and what to do. */
  message: z.string().max(2000),
});
export type Refused = z.infer<typeof RefusedSchema>;

export function refusalError(refused: Refused): TidelineError {
  const code: ErrorCodeName =
    refused.code in ErrorCodes ? (refused.code as ErrorCodeName) : 'UNAVAILABLE';
  return new TidelineError(code, refused.message, { reason: refused.reason });
}

/** Over the link: "I no longer pair with you"; the receiver forgets the sender too. */
export const UnpairSchema = z.object({ agentId: IdSchema });

export const ControlRequestSchema = z.object({
  id: z.number().int().nonnegative(),
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
/** An error answer is tried first: `result: unknown` would also accept a frame without result. */
export const ControlResponseSchema = z.union([
  z.object({
    id: z.number().int().nonnegative(),
    error: z.object({
      code: z.string().max(64),
      message: z.string().max(4000),
      data: z.record(z.string(), z.unknown()).optional(),
    }),
  }),
  z.object({ id: z.number().int().nonnegative(), result: z.unknown() }),
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;
export type ControlResponse = z.infer<typeof ControlResponseSchema>;

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Parses a JSON frame payload against `schema`; a protocol error names the bad field. */
export function decodeJson<S extends z.ZodType>(
  payload: Buffer,
  schema: S,
  what: string,
): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw protocolError(`${what} frame is not valid JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${formatPath(issue.path)}: ${issue.message}` : 'invalid';
    throw protocolError(`${what} frame is not valid (${where})`);
  }
  return parsed.data;
}

/** The highest version both ranges contain, or undefined. */
export function agreeVersion(
  ours: { readonly min: number; readonly max: number },
  theirs: { readonly min: number; readonly max: number },
): number | undefined {
  const version = Math.min(ours.max, theirs.max);
  return version >= Math.max(ours.min, theirs.min) ? version : undefined;
}
