import { z } from 'zod';
import { IdSchema } from './common';
import { method, type NotificationTable } from './method-table';

/**
 * Hosts the console deploys agents to over SSH (main/services/deploy): the admin adds a
 * host, confirms its SSH host key, deploys; the console then holds the agent it installed.
 */

export const HostAgentStateSchema = z.enum([
  'NotInstalled',
  'Installing',
  'Installed',
  'Upgrading',
  'Uninstalling',
  'Failed',
]);
export type HostAgentState = z.infer<typeof HostAgentStateSchema>;

const HostNameSchema = z
  .string()
  .trim()
  .min(1, 'give the host name or address')
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, 'a host name, IPv4 or IPv6 address');
const PortSchema = z.number().int().min(1).max(65535);
const UserSchema = z
  .string()
  .trim()
  .min(1, 'give the SSH user')
  .max(32)
  .regex(/^[a-z_][a-z0-9_.-]*$/, 'a login name: lower-case letters, digits, _ . -');
const SshFingerprintSchema = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'SHA256:… as ssh-keygen -lf prints it');

export const HostEntrySchema = z.object({
  hostId: IdSchema,
  address: HostNameSchema,
  sshPort: PortSchema,
  user: UserSchema,
  /** The site the agent starts (its `init --site`). */
  site: z.string().trim().min(1).max(80),
  /** The agent's control port on the host. */
  agentPort: PortSchema,
  hypervisor: z.enum(['auto', 'sim', 'libvirt']),
  /** The pinned SSH host key; absent until the admin confirmed one. */
  hostKey: SshFingerprintSchema.optional(),
  state: HostAgentStateSchema,
  /** Why the last operation failed (Failed), for the admin. */
  reason: z.string().optional(),
  agentVersion: z.string().optional(),
  /** The console's agent entry once deployed (agents.* and the estate). */
  agentKey: IdSchema.optional(),
  updatedAt: z.number().int().nonnegative(),
});
export type HostEntry = z.infer<typeof HostEntrySchema>;

export const HostProgressSchema = z.object({
  step: z.string(),
  index: z.number().int().nonnegative(),
  of: z.number().int().positive(),
  fraction: z.number().min(0).max(1).optional(),
});

export const HostEntryViewSchema = HostEntrySchema.extend({
  /** The operation running now, and its step. */
  progress: HostProgressSchema.optional(),
});
export type HostEntryView = z.infer<typeof HostEntryViewSchema>;

export const HostAddParamsSchema = z.strictObject({
  address: HostNameSchema,
  sshPort: PortSchema.default(22),
  user: UserSchema,
  site: z.string().trim().min(1, 'name the site').max(80),
  agentPort: PortSchema.default(7443),
  hypervisor: z.enum(['auto', 'sim', 'libvirt']).default('auto'),
});

/** How to log in for one operation; a password is used for that operation only, never kept. */
export const SshCredentialsSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('password'), password: z.string().min(1).max(1024) }),
  z.strictObject({
    kind: z.literal('key'),
    /** A private key file on the console's machine. */
    keyPath: z.string().min(1).max(4096),
    passphrase: z.string().max(1024).optional(),
  }),
  z.strictObject({ kind: z.literal('agent') }),
]);
export type SshCredentials = z.infer<typeof SshCredentialsSchema>;

export const HostKeyOfferSchema = z.object({
  hostId: IdSchema,
  fingerprint: SshFingerprintSchema,
  keyType: z.string(),
  /** Run on the host to compare. */
  checkCommand: z.string(),
});

const HostRef = { hostId: IdSchema };

export const hostsConsoleMethods = {
  'hosts.list': method(
    z.strictObject({}).optional(),
    z.array(HostEntryViewSchema),
    'Hosts to deploy agents to.',
  ),
  'hosts.add': method(
    HostAddParamsSchema,
    HostEntryViewSchema,
    'Add a host (nothing is contacted yet).',
  ),
  'hosts.remove': method(
    z.strictObject(HostRef),
    z.object({ removed: z.literal(true) }),
    'Forget a host with no agent installed (undeploy first); its pinned key goes with it.',
  ),
  'hosts.scanKey': method(
    z.strictObject(HostRef),
    HostKeyOfferSchema,
    'Fetch the SSH host key the host presents, for the admin to compare; sends no credential.',
  ),
  'hosts.trustKey': method(
    z.strictObject({ ...HostRef, fingerprint: SshFingerprintSchema }),
    HostEntryViewSchema,
    'Pin the host key the admin compared. A pinned key is never replaced: remove the host and add it again.',
  ),
  'hosts.deploy': method(
    z.strictObject({ ...HostRef, credentials: SshCredentialsSchema }),
    HostEntryViewSchema,
    'Install the agent, start its service and add it to the console (progress in hosts.changed).',
  ),
  'hosts.upgrade': method(
    z.strictObject({ ...HostRef, credentials: SshCredentialsSchema }),
    HostEntryViewSchema,
    'Replace the agent with this console’s package; identity, pairing and data stay.',
  ),
  'hosts.undeploy': method(
    z.strictObject({ ...HostRef, credentials: SshCredentialsSchema, deleteData: z.boolean() }),
    HostEntryViewSchema,
    'Stop and remove the agent; with deleteData its replicas, journals and identity go too.',
  ),
} as const;

export const hostsConsoleNotifications = {
  /** A host was added, changed state or progressed, or was removed (the whole list). */
  'hosts.changed': z.object({ hosts: z.array(HostEntryViewSchema) }),
} as const satisfies NotificationTable;
