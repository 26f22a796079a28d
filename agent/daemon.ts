import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { TidelineError } from '../app/errors';
import { join } from 'node:path';
import {
  Dispatcher,
  agentMethods,
  agentNotifications,
  encodeNotification,
  type InventoryKind,
} from '../app/protocol';
import { loadAgentConfig } from './config/agent-config';
import { dataDirLayout } from './config/data-dir';
import { DataDirLock } from './config/data-dir-lock';
import { ControlServer, type ListenAddress } from './control/control-server';
import { createHandlers, handshakeGuard } from './control/handlers';
import { DEFAULT_LIMITS, DEFAULT_MAX_CONNECTIONS, type ConnectionLimits } from './control/limits';
import type { HypervisorAdapter } from './hypervisor/adapter';
import { createHypervisorAdapter } from './hypervisor/registry';
import type { Logger } from './log';
import { AlertService } from './alerts/alert-service';
import { MetricsHistory } from './metrics/metrics-history';
import { startPolicies, type Policies } from './policy/policies';
import { NbdService } from './nbd/nbd-service';
import { loadNbdTls } from './nbd/nbd-tls';
import type { NbdEndpoints } from './nbd/nbd-server';
import type { LinkTuning } from './peer/peer-link';
import { PeerService, type ReplicationEndpoint } from './peer/peer-service';
import { ReplicationEngine } from './replication/engine';
import { MetadataService } from './recovery/metadata-service';
import { RecoveryDiskService } from './recovery/recovery-disks';
import { FailoverManager } from './recovery/failover-manager';
import { createFailoverOrchestration } from './recovery/failover-operations';
import { TaskManager } from './tasks/task-manager';
import { SupportService } from './support/support-service';
import { AuthThrottle } from './security/auth-throttle';
import { readTlsIdentity } from './security/certificate';
import { SiteStore } from './site/site-store';
import { removeStaleTempFiles } from './store/atomic-file';
import { drop } from './util/drop';
import { LoopWatch } from './util/loop-watch';
import { AGENT_VERSION } from './version';

export interface DaemonOptions {
  readonly dataDir: string;
  readonly listen: ListenAddress;
  /** The replication listener (peer links and pairing). */
  readonly replicationListen: ListenAddress;
  /** The replication address peers dial (host:port); default: derived from replicationListen. */
  readonly advertise?: string;
  /** Pairing token lifetime (default 10 minutes). */
  readonly pairingTokenTtlMs?: number;
  /** Peer link settings (keepalive, window, …) for tests; defaults otherwise. */
  readonly peerTuning?: Partial<LinkTuning>;
  readonly keepaliveMs: number;
  readonly log: Logger;
  readonly limits?: Partial<ConnectionLimits>;
  /** Outbox size per VPG before it keeps dirty bitmaps instead (default 2 GiB). */
  readonly outboxLimitBytes?: number;
  /** Seconds RPO must stay over its target before an RPO alert (default 60). */
  readonly rpoGraceSeconds?: number;
  /** Period of the metadata capture of protected VPGs (default 5 min). */
  readonly metadataIntervalMs?: number;
  /**
   * The NBD server (agent/nbd): unix socket (default `<dataDir>/nbd.sock`), optional TCP;
   * false: no NBD server. Default: the unix socket only.
   */
  readonly nbd?:
    | { readonly socketPath?: string; readonly tcp?: ListenAddress; readonly tlsPskFile?: string }
    | false;
  /**
   * The data directory's lock, taken by the caller (`run` takes it before it opens its log).
   * Without it start() takes the lock itself and stop() releases it.
   */
  readonly dataDirLock?: DataDirLock;
  /** Where pre-seeded replica images may be taken from (agent/replication/preseed.ts). */
  readonly preseedDir?: string;
}

export interface DaemonInfo {
  readonly url: string;
  readonly port: number;
  readonly fingerprint: string;
  readonly agentId: string;
  readonly siteId: string;
  readonly replication: ReplicationEndpoint;
  /** Where the NBD server listens (undefined: disabled). */
  readonly nbd: NbdEndpoints | undefined;
}

/**
 * The agent's lifecycle: start() loads the data directory and brings the parts up in order
 * (state, hypervisor, peer links, replication, control channel); stop() takes them down in
 * reverse, each part's failure isolated so the others still stop.
 */
export class Daemon {
  private hypervisor: HypervisorAdapter | undefined;
  private peerService: PeerService | undefined;
  private engine: ReplicationEngine | undefined;
  private nbd: NbdService | undefined;
  private metrics: MetricsHistory | undefined;
  private server: ControlServer | undefined;
  private tasks: TaskManager | undefined;
  private policies: Policies | undefined;
  private alerts: AlertService | undefined;
  private metadata: MetadataService | undefined;
  private recoveryDisksValue: RecoveryDiskService | undefined;
  private failovers: FailoverManager | undefined;
  private support: SupportService | undefined;
  private ownLock: DataDirLock | undefined;
  private loopWatch: LoopWatch | undefined;

  constructor(private readonly options: DaemonOptions) {}

  async start(): Promise<DaemonInfo> {
    const { log } = this.options;
    this.loopWatch = new LoopWatch(log);
    this.loopWatch.start();
    const layout = dataDirLayout(this.options.dataDir);
    const config = await loadAgentConfig(layout);
    // Before anything is written, recovered or removed: a second agent changes nothing.
    if (this.options.dataDirLock?.held !== true) {
      this.ownLock = DataDirLock.acquire(layout.root, layout.lockFile, 'run (in-process)');
    }
    if (this.options.preseedDir !== undefined) await requireDirectory(this.options.preseedDir);
    // A bad key file is refused before anything starts.
    const nbdTlsFile = this.options.nbd === false ? undefined : this.options.nbd?.tlsPskFile;
    const nbdTls = nbdTlsFile === undefined ? undefined : await loadNbdTls(nbdTlsFile);
    const removed = await removeStaleTempFiles(layout.stateDir);
    if (removed > 0) log.info({ removed }, 'removed temp files left by an interrupted write');
    const tls = await readTlsIdentity(layout.keyFile, layout.certFile);
    const site = new SiteStore(layout.siteFile);
    await site.load();

    this.hypervisor = await createHypervisorAdapter(config.hypervisor, layout, log);
    await this.hypervisor.start();

    const inventoryChanged = (kinds: InventoryKind[]): void => {
      const frame = encodeNotification(agentNotifications, 'inventory.changed', {
        siteId: config.siteId,
        kinds,
      });
      this.server?.broadcast(frame);
      this.metadata?.inventoryChanged(kinds);
    };
    // Changes the hypervisor noticed by itself (libvirt: a VM started, a network was defined).
    this.hypervisor.onInventoryChanged?.(inventoryChanged);
    this.peerService = new PeerService({
      agentId: config.agentId,
      siteId: config.siteId,
      fingerprint: tls.fingerprint,
      siteName: () => site.details.name,
      tls,
      listen: this.options.replicationListen,
      ...(this.options.advertise !== undefined && { advertise: this.options.advertise }),
      ...(this.options.pairingTokenTtlMs !== undefined && {
        pairingTokenTtlMs: this.options.pairingTokenTtlMs,
      }),
      ...(this.options.peerTuning !== undefined && { tuning: this.options.peerTuning }),
      peersFile: layout.peersFile,
      log: log.child({ component: 'peer' }),
      onPeersChanged: () => inventoryChanged(['peer']),
    });
    const metrics = new MetricsHistory({
      dir: layout.metricsDir,
      log: log.child({ component: 'metrics' }),
    });
    this.metrics = metrics;
    await metrics.load();
    const tasks = new TaskManager({
      file: layout.tasksFile,
      log: log.child({ component: 'tasks' }),
      notify: (task) =>
        this.server?.broadcast(encodeNotification(agentNotifications, 'task.progress', task)),
    });
    this.tasks = tasks;
    await tasks.start();
    const alerts = new AlertService({
      file: layout.alertsFile,
      log: log.child({ component: 'alerts' }),
      ...(this.options.rpoGraceSeconds !== undefined && {
        graceSeconds: this.options.rpoGraceSeconds,
      }),
      vpgName: (vpgId) => this.engine?.list().find((v) => v.vpgId === vpgId)?.name ?? vpgId,
      // The calendar's target and timeframe; without a policy the tick's (the VPG's own).
      targetFor: (vpgId) => {
        const inForce = this.policies?.scheduler.inForce({ kind: 'vpg', vpgId });
        return inForce === undefined
          ? undefined
          : { targetSeconds: inForce.rpoTargetSeconds, timeframeName: inForce.timeframeName };
      },
      notify: (event, alert) =>
        this.server?.broadcast(encodeNotification(agentNotifications, `alert.${event}`, alert)),
    });
    this.alerts = alerts;
    await alerts.load();
    const policies = await startPolicies({
      file: layout.policiesFile,
      log: log.child({ component: 'policy' }),
      vpg: (vpgId) => this.engine?.storedVpg(vpgId),
      isPeer: (agentId) => this.peerService?.list().some((p) => p.agentId === agentId) ?? false,
    });
    this.policies = policies;
    const metadata = new MetadataService({
      dataDir: layout.root,
      stateDir: layout.stateDir,
      siteId: config.siteId,
      hypervisor: this.hypervisor,
      peers: this.peerService,
      log: log.child({ component: 'metadata' }),
      vpgs: {
        list: () => this.engine?.list() ?? [],
        stored: (vpgId) => this.engine?.storedVpg(vpgId),
      },
      ...(this.options.metadataIntervalMs !== undefined && {
        intervalMs: this.options.metadataIntervalMs,
      }),
    });
    this.metadata = metadata;
    // The NBD server's unix socket (the tap's exports; mirrored disks are copied into it).
    const nbdSocket =
      this.options.nbd === false
        ? undefined
        : (this.options.nbd?.socketPath ?? join(layout.root, 'nbd.sock'));
    this.engine = new ReplicationEngine({
      ...(nbdSocket !== undefined && { nbdSocketPath: nbdSocket }),
      metadata: metadata.packages,
      checkpointTests: (vpgId) => this.failovers?.testsOf(vpgId),
      tasks,
      policies: policies.scheduler,
      layout,
      siteId: config.siteId,
      hypervisor: this.hypervisor,
      peers: this.peerService,
      log: log.child({ component: 'replication' }),
      ...(this.options.outboxLimitBytes !== undefined && {
        outboxLimitBytes: this.options.outboxLimitBytes,
      }),
      ...(this.options.preseedDir !== undefined && { preseedDir: this.options.preseedDir }),
      events: {
        rpoTick: (tick) => {
          this.server?.broadcast(encodeNotification(agentNotifications, 'rpo.tick', tick));
          metrics.record(tick);
          alerts.rpoTick(tick);
        },
        journalRetention: (vpg, result, time) => alerts.journalRetention(vpg, result, time),
        diskFull: (vpg, message, time) => alerts.diskFull(vpg, message, time),
        vpgStatus: (change) =>
          this.server?.broadcast(encodeNotification(agentNotifications, 'vpg.status', change)),
        vpgChanged: (vpgId) => {
          metadata.vpgChanged(vpgId);
          inventoryChanged(['vpg']);
        },
        vpgRemoved: (vpgId) => {
          alerts.vpgRemoved(vpgId);
          drop(metadata.vpgRemoved(vpgId), (err) =>
            log.warn({ err, vpgId }, 'cannot delete the metadata capture of a removed VPG'),
          );
          drop(metrics.remove(vpgId), (err) =>
            log.warn({ err, vpgId }, 'cannot delete the metrics history of a removed VPG'),
          );
        },
      },
    });
    // Before the links start: the engine serves the peers' control methods and takes every
    // link as the peer service creates it.
    await this.engine.start();
    await metrics.retain(this.engine.list().map((v) => v.vpgId));
    // Before the links: it serves vpg.metadata.put and ships on every link up.
    await metadata.start();
    // After the engine: exports write through its tap (protected disks are sequenced).
    let nbdEndpoints: NbdEndpoints | undefined;
    // The recovered disks of failovers (agent/recovery), over the target side's journals.
    const engine = this.engine;
    const recoveryDisks = new RecoveryDiskService({
      dataDir: layout.root,
      journalOf: (vpgId) => engine.targetJournal(vpgId),
      nbdSocketPath: nbdSocket,
      log: log.child({ component: 'recovery-disks' }),
    });
    this.recoveryDisksValue = recoveryDisks;
    if (nbdSocket !== undefined && this.options.nbd !== false) {
      const hypervisor = this.hypervisor;
      this.nbd = new NbdService({
        socketPath: nbdSocket,
        extraExports: recoveryDisks.exports,
        ...(this.options.nbd?.tcp !== undefined && { tcp: this.options.nbd.tcp }),
        ...(nbdTls !== undefined && { tls: nbdTls }),
        listVms: () => hypervisor.listVms(),
        tap: this.engine.diskTap,
        log: log.child({ component: 'nbd' }),
        ...(hypervisor.mirroring !== undefined && {
          mirrored: { socketGroup: hypervisor.mirroring.socketGroup },
        }),
      });
      nbdEndpoints = await this.nbd.start();
      this.engine.tapServing();
    }
    // Before the links: a live failover's VPG refuses records from the first one on.
    const failovers = new FailoverManager({
      file: join(layout.stateDir, 'failovers.json'),
      dataDir: layout.root,
      tasks,
      hypervisor: this.hypervisor,
      replication: engine,
      disks: recoveryDisks,
      metadata: metadata.packages,
      peers: this.peerService,
      log: log.child({ component: 'failover' }),
      notify: (status) =>
        this.server?.broadcast(encodeNotification(agentNotifications, 'failover.status', status)),
      inventoryChanged,
    });
    this.failovers = failovers;
    await failovers.start();
    const replication = await this.peerService.start();
    const peers = this.peerService;
    // Support bundles (agent/support): read the services above when an admin collects one.
    const support = new SupportService({
      layout,
      tasks,
      log: log.child({ component: 'support' }),
      state: {
        site: () => site.details,
        vpgs: () => engine.list(),
        peers: () => peers.list(),
        tasks: () => tasks.list({ limit: 500 }),
        alerts: () => alerts.list(),
      },
      system: { agentId: config.agentId, siteId: config.siteId, hypervisor: config.hypervisor },
      secrets: { keyFile: layout.keyFile, adminToken: config.adminToken, pskFile: nbdTlsFile },
    });
    this.support = support;
    await support.start();
    const handlers = createHandlers({
      identity: {
        agentId: config.agentId,
        siteId: config.siteId,
        hostName: hostname(),
        version: AGENT_VERSION,
        fingerprint: tls.fingerprint,
      },
      site,
      hypervisor: this.hypervisor,
      inventoryChanged,
      pairing: this.peerService,
      replication: this.engine,
      tasks,
      metrics,
      alerts,
      policies: policies.service,
      failover: {
        metadata: metadata.handlers(),
        failover: createFailoverOrchestration(failovers),
      },
      ...(this.nbd !== undefined && { exports: this.nbd }),
      support,
    });
    const dispatcher = new Dispatcher(agentMethods, handlers, {
      guard: handshakeGuard,
      onInternalError: (err, method) =>
        log.error({ err, method }, 'internal error in a request handler'),
    });
    this.server = new ControlServer({
      listen: this.options.listen,
      tls,
      adminToken: config.adminToken,
      throttle: new AuthThrottle(),
      dispatcher,
      limits: { ...DEFAULT_LIMITS, ...this.options.limits },
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      keepaliveMs: this.options.keepaliveMs,
      log: log.child({ component: 'control' }),
    });
    const { url, port } = await this.server.start();
    return {
      url,
      port,
      fingerprint: tls.fingerprint,
      agentId: config.agentId,
      siteId: config.siteId,
      replication,
      nbd: nbdEndpoints,
    };
  }

  /** The recovered disks of failovers (after start()), for the failover orchestration. */
  get recoveryDisks(): RecoveryDiskService | undefined {
    return this.recoveryDisksValue;
  }

  /** Pairing and peer links, for the replication engine (after start()). */
  get peers(): PeerService | undefined {
    return this.peerService;
  }

  async stop(): Promise<void> {
    await this.stopPart('control server', this.server);
    this.server = undefined;
    // Before the engine: running tasks end as interrupted, not as aborted by the VPGs' stop.
    await this.stopPart('tasks', this.tasks);
    await this.stopPart('policies', this.policies);
    this.policies = undefined;
    this.tasks = undefined;
    // After the tasks (a collection under way has ended): the bundle folder is emptied.
    await this.stopPart('support', this.support);
    this.support = undefined;
    // After the tasks, before the recovery disks: commit timers stop, disk sets close.
    await this.stopPart('failovers', this.failovers);
    this.failovers = undefined;
    // Before the NBD server: mirrors end cleanly (the VMs go on on their own disk files).
    const engine = this.engine;
    await this.stopPart('mirrors', engine && { stop: () => engine.releaseMirrors() });
    // Before the engine: NBD clients' requests in flight are answered through its tap.
    await this.stopPart('nbd', this.nbd);
    this.nbd = undefined;
    // After the NBD server, before the engine (its journals): overlays flushed, pins kept.
    await this.stopPart('recovery disks', this.recoveryDisksValue);
    this.recoveryDisksValue = undefined;
    await this.stopPart('metadata', this.metadata);
    this.metadata = undefined;
    // Before the links: workloads stop, outboxes are synced and journals closed.
    await this.stopPart('replication', this.engine);
    this.engine = undefined;
    // After the engine: no more ticks; the partial minute is written so a restart keeps it.
    await this.stopPart('metrics', this.metrics);
    this.metrics = undefined;
    await this.stopPart('alerts', this.alerts);
    this.alerts = undefined;
    await this.stopPart('peer links', this.peerService);
    this.peerService = undefined;
    await this.stopPart('hypervisor', this.hypervisor);
    this.hypervisor = undefined;
    this.ownLock?.release();
    this.ownLock = undefined;
    this.loopWatch?.stop();
    this.loopWatch = undefined;
  }

  private async stopPart(name: string, part: { stop(): Promise<void> } | undefined): Promise<void> {
    try {
      await part?.stop();
    } catch (err) {
      this.options.log.error({ err, part: name }, 'failed to stop cleanly');
    }
  }
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) {
    throw new TidelineError('INVALID_PARAMS', `--preseed-dir ${dir} is not a directory`);
  }
}
