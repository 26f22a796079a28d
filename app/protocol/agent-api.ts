import { z } from 'zod';
import { FingerprintSchema, IdSchema } from './common';
import {
  HostSchema,
  InventoryKindSchema,
  SiteDetailsPatchSchema,
  SiteDetailsSchema,
  VmSchema,
} from './inventory';
import { NoParams, method, type NotificationTable } from './method-table';
import {
  PairParamsSchema,
  PairingTokenSchema,
  PeerSchema,
  SetLinkCompressionParamsSchema,
} from './pairing';
import { replicationMethods, replicationNotifications } from './replication-api';
import { taskMethods, taskNotifications } from './task-api';
import { policyMethods, policyNotifications } from './policy-api';
import { failoverMethods, failoverNotifications } from './failover-api';
import { supportMethods } from './support-api';

/**
 * The console ↔ agent protocol: JSON-RPC 2.0 over wss. Bump PROTOCOL_VERSION on any change a
 * peer of the previous version could not handle, and keep MIN_PROTOCOL_VERSION as low as the
 * agent can still serve.
 */
export const PROTOCOL_VERSION = 1;
export const MIN_PROTOCOL_VERSION = 1;

/** A text frame larger than this is answered with FRAME_TOO_LARGE and otherwise ignored. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** A frame larger than this closes the connection (1009) before it is buffered whole. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export const HelloParamsSchema = z.strictObject({
  protocolVersion: z.number().int().positive(),
  client: z.strictObject({
    product: z.string().min(1).max(64),
    version: z.string().min(1).max(64),
  }),
});
export type HelloParams = z.infer<typeof HelloParamsSchema>;

export const AgentIdentitySchema = z.object({
  agentId: IdSchema,
  siteId: IdSchema,
  siteName: z.string(),
  hostName: z.string(),
  version: z.string(),
  fingerprint: FingerprintSchema,
});
export type AgentIdentity = z.infer<typeof AgentIdentitySchema>;

export const HelloResultSchema = z.object({
  protocolVersion: z.number().int().positive(),
  supported: z.object({ min: z.number().int(), max: z.number().int() }),
  agent: AgentIdentitySchema,
});
export type HelloResult = z.infer<typeof HelloResultSchema>;

export const agentMethods = {
  hello: method(
    HelloParamsSchema,
    HelloResultSchema,
    'First call on every connection: agree on a protocol version and learn who the agent is.',
  ),
  'site.details': method(NoParams, SiteDetailsSchema, 'Name, location and contact of this site.'),
  'site.setDetails': method(
    SiteDetailsPatchSchema,
    SiteDetailsSchema,
    'Change name, location or contact of this site; notifies inventory.changed.',
  ),
  'site.pairingToken': method(
    NoParams,
    PairingTokenSchema,
    'A short-lived token another site’s agent uses (site.pair) to pair with this one.',
  ),
  'site.pair': method(
    PairParamsSchema,
    PeerSchema,
    'Pair with the agent whose pairing token this is: exchange and pin certificates.',
  ),
  'site.unpair': method(
    z.strictObject({ agentId: IdSchema }),
    z.object({ unpaired: z.literal(true) }),
    'Forget a paired agent; its certificate is no longer accepted.',
  ),
  'site.peers': method(NoParams, z.array(PeerSchema), 'Paired agents and the state of each link.'),
  'site.setLinkCompression': method(
    SetLinkCompressionParamsSchema,
    PeerSchema,
    'Compress (lz4) or not the replication traffic this agent sends to a paired agent.',
  ),
  'host.list': method(NoParams, z.array(HostSchema), 'Hypervisor hosts this agent manages.'),
  'vm.list': method(
    z.strictObject({ hostId: IdSchema.optional() }).optional(),
    z.array(VmSchema),
    'Virtual machines on this agent’s hosts, optionally of one host.',
  ),
  ...replicationMethods,
  ...taskMethods,
  ...policyMethods,
  ...failoverMethods,
  ...supportMethods,
} as const;
export type AgentMethods = typeof agentMethods;

export const InventoryChangedSchema = z.object({
  siteId: IdSchema,
  kinds: z.array(InventoryKindSchema).min(1),
});
export type InventoryChanged = z.infer<typeof InventoryChangedSchema>;

export const agentNotifications = {
  'inventory.changed': InventoryChangedSchema,
  ...replicationNotifications,
  ...taskNotifications,
  ...policyNotifications,
  ...failoverNotifications,
} as const satisfies NotificationTable;
export type AgentNotifications = typeof agentNotifications;

/** Whether an agent speaking [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] can serve `version`. */
export function negotiateVersion(requested: number): number | undefined {
  if (requested < MIN_PROTOCOL_VERSION) return undefined;
  return Math.min(requested, PROTOCOL_VERSION);
}
