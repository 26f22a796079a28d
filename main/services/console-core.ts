import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { TidelineError, toTidelineError } from '../../app/errors';
import type {
  AgentView,
  CertificateInfo,
  CheckpointInfo,
  ConsoleEventMap,
  ConsoleMethods,
  EstateSnapshot,
  Handlers,
  PlanningContext,
  PlanningContextParams,
  ParamsOut,
  ProtectionTask,
  ProtectionTasks,
  ProtectionTicks,
  SiteDetailsPatch,
  SitePairing,
  SitesSetCompressionParams,
  SitesUnpairResult,
  SiteView,
  VpgSettings,
  VpgView,
  WorkloadSettingsSchema,
  WorkloadStatus,
} from '../../app/protocol';
import type { z } from 'zod';
import {
  AgentConnection,
  type AgentEntry,
  type ConnectionOptions,
} from './agents/agent-connection';
import type { BackoffOptions } from '../../app/backoff';
import { addRefused } from './agents/errors';
import { probeCertificate } from './agents/tls';
import { createConsoleHandlers } from './console-handlers';
import { EstateCache } from './estate/estate-cache';
import type { SeedEntry } from './settings/seed';
import { pairSites, setLinkCompression, unpairSites, type SiteAccess } from './sites/site-pairing';
import { TickStore, type TickStoreOptions } from './protection/tick-store';
import { TaskStore } from './protection/task-store';
import { abortTask, taskHistory } from './protection/task-operations';
import { AlertStore } from './alerts/alert-store';
import { RecoveryService } from './recovery/recovery-service';
import type { ConsoleAlert } from '../../app/protocol/console-api';
import {
  createVpg,
  insertCheckpoint,
  listCheckpoints,
  removeVpg,
  setWorkload,
  waitForCheckpoint,
  type ProtectionAccess,
} from './protection/vpg-operations';
import { vpgHistory } from './protection/vpg-history';
import { editVpg, type VpgEditParams } from './protection/vpg-edit';
import type { MetricsHistory } from '../../app/metrics/metrics-schemas';
import type { ProtectionHistoryParams, VpgEditResult } from '../../app/protocol/console-api';
import type { SettingsStore } from './settings/settings-store';
import { HostService } from './deploy/host-service';
import { systemClock, type Clock } from './util/clock';
import { silentLogger, type Logger } from './util/log';
import { CONSOLE_VERSION } from './version';
import { DraftStore } from './policies/draft-store';
import { PolicyDrafts } from './policies/policy-drafts';
import { PlanningCache } from './planner/planning-cache';
import { planningContext } from './planner/planning-context';
import { SupportService } from './support/support-service';
import { consoleLogRing } from './util/log-ring';

export interface ConsoleCoreOptions {
  readonly settings: SettingsStore;
  readonly mode: 'electron' | 'browser';
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly connectTimeoutMs?: number;
  readonly callTimeoutMs?: number;
  readonly heartbeatMs?: number;
  readonly backoff?: BackoffOptions;
  /** Delay that coalesces bursts of changes into one estate.changed (default 50 ms). */
  readonly coalesceMs?: number;
  /** Batching of the agents' rpo.tick into protection.tick (default: at most once a second). */
  readonly ticks?: TickStoreOptions;
  /** Calendar policy drafts (default: policy-drafts.json beside the settings file). */
  readonly drafts?: DraftStore;
  /** The planner's measured rates (default: planning-cache.json beside the settings file). */
  readonly planningCache?: PlanningCache;
  /** The console's recent log lines for support bundles (default: createLogger's ring). */
  readonly logLines?: () => readonly string[];
  /** What the SSH deployer installs: the packages' folder and the unit template. */
  readonly deploy?: { readonly packagesDir?: string; readonly unitTemplatePath?: string };
}

export type ConsoleEvents = ConsoleEventMap;

/**
 * The console core: the agents in settings, one connection each, the estate they report, and
 * the ConsoleApi handlers both shells serve. Runs under plain Node (no electron import).
 */
export class ConsoleCore {
  readonly events = new EventEmitter<ConsoleEvents>();
  readonly handlers: Handlers<ConsoleMethods, unknown>;
  private readonly connections = new Map<string, AgentConnection>();
  private readonly adding = new Set<string>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly estate: EstateCache;
  private readonly ticks: TickStore;
  private readonly tasks: TaskStore;
  private readonly alerts: AlertStore;
  /** Failovers: run by the recovery sites' agents, followed and started from here. */
  readonly recovery: RecoveryService;
  /** Calendar policy drafts: kept here, applied through an agent's policy.set. */
  readonly policies: PolicyDrafts;
  readonly hosts: HostService;
  /** Support bundles of several agents and the console's log (main/services/support). */
  readonly support: SupportService;
  private readonly planningCache: PlanningCache;
  private started = false;

  constructor(private readonly options: ConsoleCoreOptions) {
    this.logger = options.logger ?? silentLogger();
    this.clock = options.clock ?? systemClock;
    this.estate = new EstateCache(this.clock, this.logger, options.coalesceMs);
    this.ticks = new TickStore(this.clock, options.ticks);
    this.tasks = new TaskStore(this.clock, this.logger);
    this.alerts = new AlertStore(this.logger);
    this.recovery = new RecoveryService({
      logger: this.logger,
      snapshot: () => this.snapshot(),
      connectedAgents: (site) => this.connectedAgents(site),
    });
    this.events.setMaxListeners(100); // one per open browser tab or window
    this.policies = new PolicyDrafts({
      drafts: options.drafts ?? DraftStore.besideSettings(options.settings.path, this.logger),
      clock: this.clock,
      logger: this.logger,
      connectedAgent: (agentId) => this.connectedAgentById(agentId),
    });
    this.planningCache =
      options.planningCache ?? PlanningCache.besideSettings(options.settings.path, this.logger);
    this.hosts = new HostService({
      settings: options.settings,
      logger: this.logger,
      now: () => this.clock.now(),
      packagesDir: options.deploy?.packagesDir,
      unitTemplatePath: options.deploy?.unitTemplatePath,
      addAgent: (params) => this.addAgent(params),
      removeAgent: (key) => {
        if (this.connections.has(key)) this.removeAgent(key);
      },
      changed: (hosts) => this.events.emit('hosts.changed', { hosts }),
      ...(process.env['SSH_AUTH_SOCK'] !== undefined && {
        sshAgentSocket: process.env['SSH_AUTH_SOCK'],
      }),
    });
    this.support = new SupportService({
      logger: this.logger,
      agents: () =>
        [...this.connections.values()].map((c) => ({
          key: c.key,
          address: c.entry.address,
          identity: c.agentIdentity,
          connected: c.isConnected,
          token: c.entry.token,
          source: c,
        })),
      logLines: options.logLines ?? (() => consoleLogRing.snapshot()),
      changed: (collection) => this.events.emit('support.progress', collection),
    });
    this.handlers = createConsoleHandlers(
      this,
      { version: CONSOLE_VERSION, mode: options.mode },
      this.logger,
    );
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.estate.on('estate.changed', (s) => {
      this.ticks.setVpgs(s.vpgs);
      this.events.emit('estate.changed', s);
    });
    this.ticks.on('protection.tick', (t) => this.events.emit('protection.tick', t));
    this.tasks.on('protection.task', (t) => this.events.emit('protection.task', t));
    this.alerts.on('alerts.changed', (c) => this.events.emit('alerts.changed', c));
    this.recovery.store.on('recovery.failover', (f) => this.events.emit('recovery.failover', f));
    for (const stored of this.options.settings.agents()) {
      const { token, ...rest } = stored;
      const connection = this.connection({ ...rest, token: token ?? '' });
      this.track(connection);
      if (token !== undefined) connection.start();
      else connection.block('unauthorized', unreadableToken(stored.address));
    }
    this.logger.info(
      { agents: this.connections.size, settings: this.options.settings.path },
      'console core started',
    );
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const connection of this.connections.values()) {
      try {
        connection.stop();
      } catch (err) {
        this.logger.warn({ err, key: connection.key }, 'stopping an agent connection failed');
      }
    }
    this.connections.clear();
    this.estate.close();
    this.estate.removeAllListeners();
    this.ticks.close();
    this.ticks.removeAllListeners();
    this.tasks.close();
    this.tasks.removeAllListeners();
    this.alerts.removeAllListeners();
    this.alerts.close();
    this.recovery.close();
    await this.support.close();
  }

  snapshot(): EstateSnapshot {
    return this.estate.snapshot();
  }

  /** Adds pre-trusted agents (demo lab); an address already known with the same pin and token is left alone. */
  seed(entries: readonly SeedEntry[]): void {
    for (const entry of entries) {
      const known = this.options.settings.agents().find((a) => a.address === entry.address);
      if (known && known.fingerprint === entry.fingerprint && known.token === entry.token) continue;
      const key = known?.key ?? randomUUID();
      this.options.settings.saveAgent({
        ...entry,
        key,
        addedAt: known?.addedAt ?? this.clock.now(),
      });
      this.logger.info(
        { key, address: entry.address },
        known ? 'seeded agent updated' : 'seeded agent added',
      );
      if (!this.started) continue;
      this.forget(key);
      this.track(this.connection({ ...entry, key })).start();
    }
  }

  probe(address: string): Promise<CertificateInfo> {
    return probeCertificate(address, { timeoutMs: this.options.connectTimeoutMs ?? 10_000 });
  }

  async addAgent(params: {
    address: string;
    token: string;
    fingerprint: string;
  }): Promise<AgentView> {
    const { address } = params;
    if (
      this.adding.has(address) ||
      [...this.connections.values()].some((c) => c.entry.address === address)
    ) {
      throw new TidelineError('ALREADY_EXISTS', `The agent at ${address} is already added.`, {
        address,
      });
    }
    this.adding.add(address);
    const connection = this.connection({ ...params, key: randomUUID() });
    try {
      await connection.connectOnce().catch((err: unknown) => {
        throw addRefused(err, params.fingerprint);
      });
      if (!this.started) throw new TidelineError('UNAVAILABLE', 'The console is shutting down.');
      const agentId = connection.agentIdentity?.agentId;
      const twin = [...this.connections.values()].find((c) => c.agentIdentity?.agentId === agentId);
      if (twin !== undefined) {
        const msg = `This agent is already added as ${twin.entry.address}.`;
        throw new TidelineError('ALREADY_EXISTS', msg, { address, key: twin.key });
      }
      this.options.settings.saveAgent({ ...connection.entry, addedAt: this.clock.now() });
    } catch (err) {
      connection.stop();
      this.estate.detach(connection.key);
      this.ticks.detach(connection.key);
      throw err;
    } finally {
      this.adding.delete(address);
    }
    this.track(connection).enableRetry();
    this.logger.info({ key: connection.key, address }, 'agent added');
    return connection.view();
  }

  removeAgent(key: string): { removed: true } {
    const connection = this.find(key);
    this.forget(key);
    this.options.settings.removeAgent(key);
    this.logger.info({ key, address: connection.entry.address }, 'agent removed');
    return { removed: true };
  }

  reconnect(key: string): Promise<AgentView> {
    return this.find(key).reconnect();
  }

  async setSiteDetails(siteId: string, patch: SiteDetailsPatch): Promise<SiteView> {
    const site = this.snapshot().sites.find((s) => s.siteId === siteId);
    if (site === undefined) {
      throw new TidelineError('NOT_FOUND', `No agent of site ${siteId} is known to this console.`, {
        siteId,
      });
    }
    const via = site.agentKeys.map((k) => this.connections.get(k)).find((c) => c?.isConnected);
    if (via === undefined) {
      const msg = `No agent of site "${site.name}" is connected right now; try again once one is.`;
      throw new TidelineError('UNAVAILABLE', msg, { siteId });
    }
    const details = await via.call('site.setDetails', patch);
    this.estate.setSite(via.key, details);
    const updated = this.snapshot().sites.find((s) => s.siteId === details.siteId);
    return updated ?? { ...details, agentKeys: [via.key] };
  }

  /** sites.pair: siteId's agent issues a pairing token, peerSiteId's agent redeems it. */
  pairSites(siteId: string, peerSiteId: string): Promise<SitePairing> {
    return pairSites(this.siteAccess(), siteId, peerSiteId);
  }

  /** sites.unpair: both sides' connected agents forget each other; an offline side is reported. */
  unpairSites(siteId: string, peerSiteId: string): Promise<SitesUnpairResult> {
    return unpairSites(this.siteAccess(), siteId, peerSiteId);
  }

  /** sites.setLinkCompression: every connected agent of both sites, for its peers at the other. */
  setLinkCompression(params: SitesSetCompressionParams): Promise<SitePairing> {
    return setLinkCompression(this.siteAccess(), params);
  }

  /** vpgs.create through a connected agent of the protected site. */
  createVpg(siteId: string, settings: VpgSettings): Promise<VpgView> {
    return createVpg(this.protectionAccess(), siteId, settings);
  }

  /** vpgs.edit: VMs, then settings, through a connected agent of the protected site. */
  editVpg(params: VpgEditParams): Promise<VpgEditResult> {
    return editVpg(this.protectionAccess(), params);
  }

  removeVpg(siteId: string, vpgId: string): Promise<{ removed: true }> {
    return removeVpg(this.protectionAccess(), siteId, vpgId);
  }

  listCheckpoints(siteId: string, vpgId: string): Promise<CheckpointInfo[]> {
    return listCheckpoints(this.protectionAccess(), siteId, vpgId);
  }

  insertCheckpoint(siteId: string, vpgId: string, name: string): Promise<CheckpointInfo> {
    return insertCheckpoint(this.protectionAccess(), siteId, vpgId, name);
  }

  waitForCheckpoint(params: {
    siteId: string;
    vpgId: string;
    seq: number;
    timeoutMs: number;
  }): Promise<CheckpointInfo> {
    return waitForCheckpoint(this.protectionAccess(), params);
  }

  setWorkload(
    siteId: string,
    settings: z.output<typeof WorkloadSettingsSchema>,
  ): Promise<WorkloadStatus> {
    return setWorkload(this.protectionAccess(), siteId, settings);
  }

  /** A VPG's metrics history, from a connected agent of params.siteId (its protected site). */
  protectionHistory(params: ProtectionHistoryParams): Promise<MetricsHistory> {
    return vpgHistory(this.protectionAccess(), params);
  }

  /** planner.context: a link's VPGs, policies and measured rates, from its agent or the cache. */
  planningContext(params: PlanningContextParams): Promise<PlanningContext> {
    return planningContext(
      {
        cache: this.planningCache,
        clock: this.clock,
        logger: this.logger,
        connectedAgent: (agentId) => this.connectedAgentById(agentId),
      },
      params,
    );
  }

  /** The latest rpo.tick of every VPG (a page that just opened starts from these). */
  protectionTicks(): ProtectionTicks {
    return this.ticks.latest();
  }

  /** Tasks running now or ended in the last minute (a page that just opened starts from these). */
  protectionTasks(): ProtectionTasks {
    return this.tasks.list();
  }

  /** tasks.history: the tasks every connected agent keeps, newest first. */
  taskHistory(params: ParamsOut<ConsoleMethods, 'tasks.history'>): Promise<ProtectionTasks> {
    return taskHistory([...this.connections.values()], params, this.logger);
  }

  /** tasks.abort through the agent (agentKey) that runs the task; the drawer sees the change at once. */
  async abortTask(agentKey: string, taskId: string): Promise<ProtectionTask> {
    const task = await abortTask(this.find(agentKey), taskId);
    this.tasks.record(task.agentKey, task.siteId, task);
    return task;
  }

  /** The alerts of the connected agents, newest first. */
  listAlerts(): { alerts: ConsoleAlert[] } {
    return { alerts: this.alerts.list() };
  }

  /** alert.ack through the agent (agentKey) that keeps the alert. */
  ackAlert(agentKey: string, alertId: string): Promise<ConsoleAlert> {
    return this.alerts.ack(this.find(agentKey), alertId);
  }

  private protectionAccess(): ProtectionAccess {
    return {
      logger: this.logger,
      snapshot: () => this.snapshot(),
      connectedAgents: (site) => this.connectedAgents(site),
      refreshVpgs: async (keys) => {
        await this.estate.refreshVpgs(keys).catch((err: unknown) => {
          const e = toTidelineError(err);
          this.logger.warn({ keys, code: e.code, reason: e.message }, 'VPG refresh failed');
        });
      },
      forgetVpg: (vpgId) => this.ticks.forget(vpgId),
    };
  }

  private connectedAgents(site: SiteView): AgentConnection[] {
    return site.agentKeys
      .map((k) => this.connections.get(k))
      .filter((c): c is AgentConnection => c?.isConnected === true);
  }

  private siteAccess(): SiteAccess {
    return {
      logger: this.logger,
      snapshot: () => this.snapshot(),
      connectedAgents: (site) => this.connectedAgents(site),
      refreshPeers: async (keys) => {
        await Promise.all(
          keys.map((key) =>
            this.estate.refreshPeers(key).catch((err: unknown) => {
              const e = toTidelineError(err);
              this.logger.warn({ key, code: e.code, reason: e.message }, 'peer refresh failed');
            }),
          ),
        );
      },
    };
  }

  private connectedAgentById(agentId: string): AgentConnection | undefined {
    return [...this.connections.values()].find(
      (c) => c.isConnected && c.agentIdentity?.agentId === agentId,
    );
  }

  private find(key: string): AgentConnection {
    const connection = this.connections.get(key);
    if (connection === undefined)
      throw new TidelineError('NOT_FOUND', `No agent with key ${key}.`, { key });
    return connection;
  }

  private connection(entry: AgentEntry): AgentConnection {
    const options: ConnectionOptions = {
      clock: this.clock,
      logger: this.logger,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
      callTimeoutMs: this.options.callTimeoutMs ?? 15_000,
      heartbeatMs: this.options.heartbeatMs ?? 15_000,
      initialize: (c) => this.estate.load(c),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
    };
    return new AgentConnection(entry, options);
  }

  private track(connection: AgentConnection): AgentConnection {
    this.connections.set(connection.key, connection);
    this.estate.attach(connection);
    this.ticks.attach(connection);
    this.tasks.attach(connection);
    this.alerts.attach(connection);
    this.recovery.attach(connection);
    return connection;
  }

  private forget(key: string): void {
    const connection = this.connections.get(key);
    if (connection === undefined) return;
    connection.stop();
    this.connections.delete(key);
    this.estate.detach(key);
    this.ticks.detach(key);
    this.tasks.detach(key);
    this.alerts.detach(key);
    this.recovery.detach(key);
  }
}

function unreadableToken(address: string): TidelineError {
  return new TidelineError(
    'UNAUTHORIZED',
    `The saved token of the agent at ${address} cannot be read here (it was sealed by another ` +
      'keychain or shell). Remove the agent and add it again.',
    { address },
  );
}
