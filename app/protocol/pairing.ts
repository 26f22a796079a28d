import { z } from 'zod';
import { AddressSchema, FingerprintSchema, IdSchema } from './common';

/**
 * Site pairing: the console asks agent A for a short-lived pairing token and hands it to
 * agent B (`site.pair`); B dials A's replication address, both pin each other's certificate,
 * and from then on the two speak mutual TLS only.
 */

export const PairingTokenSchema = z.object({
  token: z.string().min(16).max(256),
  /** Epoch ms after which A refuses the token. */
  expiresAt: z.number().int(),
  /** A's replication address, as B should dial it. */
  address: AddressSchema,
  fingerprint: FingerprintSchema,
  siteId: IdSchema,
  siteName: z.string(),
});
export type PairingToken = z.infer<typeof PairingTokenSchema>;

export const PairParamsSchema = z.strictObject({
  /** The peer's replication address (from its pairing token). */
  address: AddressSchema,
  token: z.string().trim().min(16, 'is too short: use the token from site.pairingToken').max(256),
  /**
   * The certificate fingerprint the token came with: the token is sent only to an agent that
   * presents this certificate, so whoever answers at the address cannot take it.
   */
  fingerprint: FingerprintSchema,
});
export type PairParams = z.infer<typeof PairParamsSchema>;

export const PeerLinkStateSchema = z.enum(['connected', 'connecting', 'disconnected']);
export type PeerLinkState = z.infer<typeof PeerLinkStateSchema>;

/**
 * How this agent sends replication traffic to a peer: `lz4` compresses RECORDS frames (agent
 * peer protocol 2; a frame that does not shrink goes as it is). Each agent decides for what it
 * sends, so the two directions of a link are set on their own.
 */
export const LinkCompressionSchema = z.enum(['off', 'lz4']);
export type LinkCompression = z.infer<typeof LinkCompressionSchema>;

/** Replication traffic this agent sent over the link since it came up. */
export const LinkTrafficSchema = z.object({
  /** Bytes of RECORDS payloads, as they would go uncompressed. */
  recordBytes: z.number().int().nonnegative(),
  /** Bytes of those frames on the wire (smaller than recordBytes when compression pays). */
  wireBytes: z.number().int().nonnegative(),
});
export type LinkTraffic = z.infer<typeof LinkTrafficSchema>;

export const PeerSchema = z.object({
  agentId: IdSchema,
  siteId: IdSchema,
  siteName: z.string(),
  /** Where this agent reaches the peer's replication listener. */
  address: AddressSchema,
  /** The peer's pinned certificate fingerprint. */
  fingerprint: FingerprintSchema,
  pairedAt: z.number().int(),
  /** Compression of what this agent sends to the peer (absent in files before it: off). */
  compression: LinkCompressionSchema.default('off'),
  link: PeerLinkStateSchema,
  lastError: z.string().optional(),
  traffic: LinkTrafficSchema.optional(),
});
export type Peer = z.infer<typeof PeerSchema>;

export const SetLinkCompressionParamsSchema = z.strictObject({
  agentId: IdSchema,
  compression: LinkCompressionSchema,
});
export type SetLinkCompressionParams = z.infer<typeof SetLinkCompressionParamsSchema>;
