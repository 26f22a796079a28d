import { z } from 'zod';
import { AgentIdentitySchema } from './agent-api';
import { AddressSchema, FingerprintSchema, IdSchema } from './common';
import { HostSchema, SiteDetailsPatchSchema, SiteDetailsSchema, VmSchema } from './inventory';
import { LinkCompressionSchema, PeerLinkStateSchema } from './pairing';
import { VpgStateSchema, WorkloadSettingsSchema, WorkloadStatusSchema } from './replication-api';
import { CheckpointInfoSchema, RpoTickSchema, VpgSettingsSchema } from '../vpg/vpg-schemas';
import { ProtectionTaskSchema, tasksConsoleMethods } from './console-tasks-api';
import { MetricsHistoryParamsSchema, MetricsHistorySchema } from '../metrics/metrics-schemas';
import {
  NoParams,
  method,
  type DomainApi,
  type EventApi,
  type NotificationTable,
} from './method-table';
import type { ErrorCodeName } from '../errors';
import { PolicySchema, PolicyTargetSchema } from '../policy/policy-schemas';
import { VpgEditSchema } from '../vpg/vpg-edit';
import { PolicyRecordSchema } from './policy-api';
import { AlertSchema } from '../alerts/alert-schemas';
import { hostsConsoleMethods, hostsConsoleNotifications } from './console-hosts-api';
import { recoveryConsoleMethods, recoveryConsoleNotifications } from './console-recovery-api';
import { plannerConsoleMethods } from './console-planner-api';
import { supportConsoleMethods, supportConsoleNotifications } from './console-support-api';

/**
 * The ConsoleApi: what the renderer may ask of the console core. Electron's preload/IPC and
 * browser mode's WebSocket are both generated from this one table.
 */

export const AgentTokenSchema = z
  .string()
  .trim()
  .min(16, 'is too short: paste the whole token printed by "tideline-agent init"')
  .max(512)
  .regex(/^[A-Za-z0-9._~+/=-]+$/, 'contains characters a token never has');

/**
 * connecting: a connection attempt is under way; connected: hello done, inventory live;
 * retrying: lost or unreachable, next attempt at nextRetryAt (back-off);
 * unauthorized / fingerprint-mismatch / incompatible: the admin must act, no automatic retry.
 */
export const AgentConnectionStateSchema = z.enum([
  'connecting',
  'connected',
  'retrying',
  'unauthorized',
  'fingerprint-mismatch',
  'incompatible',
]);
export type AgentConnectionState = z.infer<typeof AgentConnectionStateSchema>;

export const ErrorViewSchema = z.object({
  code: z.string() as z.ZodType<ErrorCodeName | string>,
  message: z.string(),
});
export type ErrorView = z.infer<typeof ErrorViewSchema>;

export const AgentViewSchema = z.object({
  /** The console's own id for this agent entry (stable across renames and restarts). */
  key: IdSchema,
  address: AddressSchema,
  /** The pinned certificate fingerprint. */
  fingerprint: FingerprintSchema,
  state: AgentConnectionStateSchema,
  lastError: ErrorViewSchema.optional(),
  /** Epoch ms of the next reconnect attempt while retrying. */
  nextRetryAt: z.number().optional(),
  connectedSince: z.number().optional(),
  /** From the agent's last hello; absent until the first successful connection. */
  identity: AgentIdentitySchema.optional(),
});
export type AgentView = z.infer<typeof AgentViewSchema>;

export const SiteViewSchema = SiteDetailsSchema.extend({ agentKeys: z.array(IdSchema) });
export type SiteView = z.infer<typeof SiteViewSchema>;
export const HostViewSchema = HostSchema.extend({ siteId: IdSchema, agentKey: IdSchema });
export type HostView = z.infer<typeof HostViewSchema>;
export const VmViewSchema = VmSchema.extend({ siteId: IdSchema, agentKey: IdSchema });
export type VmView = z.infer<typeof VmViewSchema>;

/**
 * Two paired sites, once per pair, as the connected agents of either side report it
 * (site.peers). `link` is the worst state any of them reports; `pairedAt` the earliest.
 * The names are the console's for known sites, otherwise the one the peer record carries.
 */
export const SitePairingSchema = z.object({
  siteId: IdSchema,
  peerSiteId: IdSchema,
  siteName: z.string(),
  peerSiteName: z.string(),
  link: PeerLinkStateSchema,
  /** Why the link is down, as the agent reporting the worst state says. */
  lastError: z.string().optional(),
  /** Epoch ms. */
  pairedAt: z.number().int(),
  /**
   * What the reporting agents of both sides send with: `lz4` when every one compresses, `off`
   * when none does, `mixed` otherwise (set one way only, or an agent left out).
   */
  compression: z.enum(['off', 'lz4', 'mixed']).default('off'),
  /** Of the record bytes sent over the connected links, the share that went on the wire. */
  wireShare: z.number().min(0).optional(),
});
export type SitePairing = z.infer<typeof SitePairingSchema>;

/**
 * One VPG, once, as an agent reports it (vpg.list): by an agent of its protected site (role
 * source) when one is connected, otherwise by one of the recovery site (role target).
 * `siteId` and `agentKey` are the reporting agent's.
 */
export const VpgViewSchema = VpgStateSchema.extend({
  siteId: IdSchema,
  agentKey: IdSchema,
  /** The reporting agent is connected now (false: the last answer it gave, kept). */
  live: z.boolean(),
  /** No agent of the protected site is connected: this is the recovery site's view. */
  protectedSiteOffline: z.boolean(),
});
export type VpgView = z.infer<typeof VpgViewSchema>;

export const EstateSnapshotSchema = z.object({
  agents: z.array(AgentViewSchema),
  sites: z.array(SiteViewSchema),
  hosts: z.array(HostViewSchema),
  vms: z.array(VmViewSchema),
  pairings: z.array(SitePairingSchema),
  vpgs: z.array(VpgViewSchema),
});
export type EstateSnapshot = z.infer<typeof EstateSnapshotSchema>;

export const CertificateInfoSchema = z.object({
  address: AddressSchema,
  fingerprint: FingerprintSchema,
  subject: z.string(),
  issuer: z.string(),
  validFrom: z.string(),
  validTo: z.string(),
});
export type CertificateInfo = z.infer<typeof CertificateInfoSchema>;

export const ConsoleInfoSchema = z.object({
  version: z.string(),
  mode: z.enum(['electron', 'browser']),
});
export type ConsoleInfo = z.infer<typeof ConsoleInfoSchema>;

export const SitePairParamsSchema = z.strictObject({
  /** For sites.pair: the protected site, whose agent issues the pairing token. */
  siteId: IdSchema,
  /** For sites.pair: the recovery site, whose agent redeems it. */
  peerSiteId: IdSchema,
});
export type SitePairParams = z.infer<typeof SitePairParamsSchema>;

export const SitesSetCompressionParamsSchema = z.strictObject({
  siteId: IdSchema,
  peerSiteId: IdSchema,
  compression: LinkCompressionSchema,
});
export type SitesSetCompressionParams = z.infer<typeof SitesSetCompressionParamsSchema>;

export const SitesUnpairResultSchema = z.object({
  /** Sites whose connected agents no longer list the other site as a peer. */
  unpaired: z.array(IdSchema),
  /** Sites with no connected agent: they keep the pairing until it is unpaired there too. */
  unreachable: z.array(IdSchema),
  /** What happened, for the admin. */
  message: z.string(),
});
export type SitesUnpairResult = z.infer<typeof SitesUnpairResultSchema>;

/** An agent's rpo.tick, with the site and agent that sent it. */
export const ProtectionTickSchema = RpoTickSchema.extend({ siteId: IdSchema, agentKey: IdSchema });
export type ProtectionTick = z.infer<typeof ProtectionTickSchema>;

/** The latest tick of each VPG (protection.ticks), or those that changed (protection.tick). */
export const ProtectionTicksSchema = z.object({ ticks: z.array(ProtectionTickSchema) });
export type ProtectionTicks = z.infer<typeof ProtectionTicksSchema>;

// Tasks (tasks.*) are declared in console-tasks-api.ts; their shapes stay importable from here.
export {
  ProtectionTaskSchema,
  ProtectionTasksSchema,
  type ProtectionTask,
  type ProtectionTasks,
} from './console-tasks-api';

const VpgTarget = { siteId: IdSchema, vpgId: IdSchema };

export const VpgCreateParamsSchema = z.strictObject({
  /** The protected site: an agent of it creates the VPG and configures the recovery site. */
  siteId: IdSchema,
  settings: VpgSettingsSchema,
});
export type VpgCreateParams = z.input<typeof VpgCreateParamsSchema>;

export const VpgEditParamsSchema = z.strictObject({
  /** The protected site: an agent of it makes the change on both sites. */
  ...VpgTarget,
  /** The version the admin edited; CONFLICT if the VPG changed since. */
  version: z.number().int().nonnegative(),
  edit: VpgEditSchema,
  /** The recovery site is unreachable: save here, and it takes the settings when it is back. */
  applyLater: z.boolean().default(false),
});
export type VpgEditParams = z.input<typeof VpgEditParamsSchema>;

export const VpgEditResultSchema = z.object({
  vpg: VpgViewSchema,
  /** What was changed, in order ("add VM web-2", "change name, recovery"); empty: nothing. */
  applied: z.array(z.string()),
});
export type VpgEditResult = z.infer<typeof VpgEditResultSchema>;

export const CheckpointInsertParamsSchema = z.strictObject({
  ...VpgTarget,
  name: z.string().trim().min(1, 'give the checkpoint a name').max(120),
});

export const CheckpointWaitParamsSchema = z.strictObject({
  ...VpgTarget,
  seq: z.number().int().positive(),
  timeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
});

export const WorkloadSetParamsSchema = WorkloadSettingsSchema.extend({ siteId: IdSchema });

/** metrics.history of a VPG, asked of an agent of siteId (its protected site keeps it). */
export const ProtectionHistoryParamsSchema = MetricsHistoryParamsSchema.safeExtend({
  siteId: IdSchema,
});
export type ProtectionHistoryParams = z.input<typeof ProtectionHistoryParamsSchema>;

/** A calendar policy draft: which agent and target it is for, keyed by both. */
export const PolicyDraftKeySchema = z.strictObject({
  /** The agent the draft will be applied to (a site link's local end, a VPG's protected site). */
  agentId: IdSchema,
  target: PolicyTargetSchema,
});
export type PolicyDraftKey = z.infer<typeof PolicyDraftKeySchema>;

/** A draft kept by the console, editable offline; applied with the agent's policy.set. */
export const PolicyDraftSchema = z.object({
  agentId: IdSchema,
  target: PolicyTargetSchema,
  /** The agent's policy version the draft started from (0: none was bound). */
  baseVersion: z.number().int().nonnegative(),
  /** How the console named the target when the draft was saved (shown while it is offline). */
  label: z.string().max(200).optional(),
  policy: PolicySchema,
  /** Epoch ms of the last save. */
  updatedAt: z.number().int(),
});
export type PolicyDraft = z.infer<typeof PolicyDraftSchema>;

export const PolicySaveDraftParamsSchema = PolicyDraftKeySchema.extend({
  policy: PolicySchema,
  /** Only for a new draft (default 0); an existing draft keeps its base until rebased. */
  baseVersion: z.number().int().nonnegative().optional(),
  /** The target's name as the admin sees it ("Link HQ → DR"); kept for when it is offline. */
  label: z.string().trim().min(1).max(200).optional(),
});

/** An agent's alert (alert.list, alert.raised, alert.cleared), with the site and agent that keep it. */
export const ConsoleAlertSchema = AlertSchema.extend({ siteId: IdSchema, agentKey: IdSchema });
export type ConsoleAlert = z.infer<typeof ConsoleAlertSchema>;

/**
 * alerts.changed: one alert changed (raised, cleared, its worst RPO grew, acknowledged), or
 * an agent's alerts were replaced as a whole ('agent': it connected and listed them, or it
 * went away and they are dropped). Only 'raised' is news worth a desktop notification.
 */
export const AlertsChangedSchema = z.discriminatedUnion('change', [
  z.object({
    change: z.enum(['raised', 'cleared', 'updated', 'acknowledged']),
    alert: ConsoleAlertSchema,
  }),
  z.object({
    change: z.literal('agent'),
    agentKey: IdSchema,
    alerts: z.array(ConsoleAlertSchema),
  }),
]);
export type AlertsChanged = z.infer<typeof AlertsChangedSchema>;

export const consoleMethods = {
  'console.info': method(NoParams, ConsoleInfoSchema, 'Console version and shell.'),
  'agents.probe': method(
    z.strictObject({ address: AddressSchema }),
    CertificateInfoSchema,
    'Fetch the certificate an agent presents, for the admin to confirm; sends no token.',
  ),
  'agents.add': method(
    z.strictObject({
      address: AddressSchema,
      token: AgentTokenSchema,
      fingerprint: FingerprintSchema,
    }),
    AgentViewSchema,
    'Pin the confirmed fingerprint, connect with the token, and keep the agent in settings.',
  ),
  'agents.remove': method(
    z.strictObject({ key: IdSchema }),
    z.object({ removed: z.literal(true) }),
    'Forget an agent: disconnect and drop it (and its pinned fingerprint) from settings.',
  ),
  'agents.reconnect': method(
    z.strictObject({ key: IdSchema }),
    AgentViewSchema,
    'Try to connect now instead of waiting for the next back-off attempt.',
  ),
  'estate.get': method(NoParams, EstateSnapshotSchema, 'Sites, agents, hosts and VMs as cached.'),
  'sites.setDetails': method(
    z.strictObject({ siteId: IdSchema, patch: SiteDetailsPatchSchema }),
    SiteViewSchema,
    'Change a site’s name, location or contact through one of its connected agents.',
  ),
  'sites.pair': method(
    SitePairParamsSchema,
    SitePairingSchema,
    'Pair two sites: a pairing token from an agent of siteId, handed to an agent of peerSiteId.',
  ),
  'sites.unpair': method(
    SitePairParamsSchema,
    SitesUnpairResultSchema,
    'Unpair two sites on every connected agent of either; an offline side is reported, not fatal.',
  ),
  'sites.setLinkCompression': method(
    SitesSetCompressionParamsSchema,
    SitePairingSchema,
    'Compress (lz4) or not the replication traffic both ways between two paired sites.',
  ),
  'vpgs.create': method(
    VpgCreateParamsSchema,
    VpgViewSchema,
    'Create a VPG through a connected agent of its protected site (vpg.create).',
  ),
  'vpgs.remove': method(
    z.strictObject(VpgTarget),
    z.object({ removed: z.literal(true) }),
    'Stop protecting: remove the VPG (both sites) through a connected agent of siteId.',
  ),
  'vpgs.edit': method(
    VpgEditParamsSchema,
    VpgEditResultSchema,
    'Change a VPG: VMs that join or leave, name, journal, checkpoints, RPO target, boot order and NIC mappings, version-checked.',
  ),
  'checkpoints.list': method(
    z.strictObject(VpgTarget),
    z.array(CheckpointInfoSchema),
    'Checkpoints of a VPG, oldest first, as an agent of siteId reports them.',
  ),
  'checkpoints.insert': method(
    CheckpointInsertParamsSchema,
    CheckpointInfoSchema,
    'Insert a named checkpoint now; answers at once (confirmed: false).',
  ),
  'checkpoints.waitFor': method(
    CheckpointWaitParamsSchema,
    CheckpointInfoSchema,
    'Resolve once the checkpoint is persisted at the recovery site; TIMEOUT otherwise.',
  ),
  'protection.ticks': method(
    NoParams,
    ProtectionTicksSchema,
    'The latest rpo.tick of every VPG, for a page that opens between two protection.tick.',
  ),
  'protection.history': method(
    ProtectionHistoryParamsSchema,
    MetricsHistorySchema,
    'RPO, rates and backlog of a VPG over time, from an agent of its protected site (metrics.history).',
  ),
  'workloads.set': method(
    WorkloadSetParamsSchema,
    WorkloadStatusSchema,
    'Set the simulated write load of a VM of siteId (sim hypervisor; demos and tests).',
  ),
  'policies.drafts': method(
    NoParams,
    z.array(PolicyDraftSchema),
    'The calendar policy drafts kept by this console (no agent needed).',
  ),
  'policies.saveDraft': method(
    PolicySaveDraftParamsSchema,
    PolicyDraftSchema,
    'Create or replace a draft; refuses a policy validatePolicy finds problems in.',
  ),
  'policies.discardDraft': method(
    PolicyDraftKeySchema,
    z.object({ discarded: z.boolean() }),
    'Forget a draft.',
  ),
  'policies.current': method(
    PolicyDraftKeySchema,
    PolicyRecordSchema,
    'The policy the agent has bound to the target now (policy.get), to diff a draft against.',
  ),
  'policies.apply': method(
    PolicyDraftKeySchema,
    PolicyRecordSchema,
    'Apply a draft with policy.set at its base version; CONFLICT if the agent’s changed since. The draft is then dropped.',
  ),
  'policies.rebase': method(
    PolicyDraftKeySchema,
    PolicyDraftSchema,
    'Take the agent’s current policy version as the draft’s base, keeping the draft’s timeframes.',
  ),
  'alerts.list': method(
    NoParams,
    z.object({ alerts: z.array(ConsoleAlertSchema) }),
    'The alerts of the connected agents, newest first, for a page that opens between two alerts.changed.',
  ),
  'alerts.ack': method(
    z.strictObject({ agentKey: IdSchema, alertId: IdSchema }),
    ConsoleAlertSchema,
    'Acknowledge an alert through the agent that keeps it (alert.ack); it stays listed.',
  ),
  ...tasksConsoleMethods,
  ...recoveryConsoleMethods,
  ...hostsConsoleMethods,
  ...plannerConsoleMethods,
  ...supportConsoleMethods,
} as const;
export type ConsoleMethods = typeof consoleMethods;

export const consoleNotifications = {
  'estate.changed': EstateSnapshotSchema,
  /** The VPGs whose rpo.tick changed since the last one, batched, at most about once a second. */
  'protection.tick': ProtectionTicksSchema,
  /** A task of a connected agent changed (its task.progress). */
  'protection.task': ProtectionTaskSchema,
  /** An alert of a connected agent changed, or an agent's alerts were (re)loaded or dropped. */
  'alerts.changed': AlertsChangedSchema,
  ...recoveryConsoleNotifications,
  ...hostsConsoleNotifications,
  ...supportConsoleNotifications,
} as const satisfies NotificationTable;
export type ConsoleNotifications = typeof consoleNotifications;

/** The core's events, one per notification: what the transports forward to the renderer. */
export type ConsoleEventMap = {
  [K in keyof ConsoleNotifications]: [z.output<ConsoleNotifications[K]>];
};

/** What the renderer sees, identical in Electron and in browser mode. */
export type ConsoleApi = DomainApi<ConsoleMethods> & EventApi<ConsoleNotifications>;

/**
 * What crosses Electron's contextBridge: Error objects lose their code there, so each call
 * resolves to an envelope and the renderer side turns failures back into TidelineErrors.
 */
export type BridgeEnvelope =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; data?: unknown } };

/** IPC channel names derived from the table; the preload and main both use these. */
export const ipcChannel = (name: keyof ConsoleMethods & string): string => `tideline:${name}`;
export const ipcEventChannel = (name: keyof ConsoleNotifications & string): string =>
  `tideline-event:${name}`;
