import { join } from 'node:path';
import { isTidelineError } from '../../app/errors';
import type { InventoryKind, Unsubscribe, VpgState } from '../../app/protocol';
import type { MetadataOperations } from '../control/failover-handlers';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { PeerLink } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';
import { callPeer } from '../replication/vpg-control';
import type { StoredVpg } from '../replication/vpg-store';
import { MetadataCapture, type MetadataShip } from './metadata-capture';
import { MetadataPutResultSchema, VPG_METADATA_PUT } from './metadata-control';
import { createMetadataHandlers } from './metadata-handlers';
import { FileMetadataStore } from './metadata-store';
import type { MetadataStore } from './recovery-types';

export interface MetadataServiceOptions {
  readonly dataDir: string;
  /** The agent's state directory: captures go in `<stateDir>/metadata/`. */
  readonly stateDir: string;
  readonly siteId: string;
  readonly hypervisor: HypervisorAdapter;
  readonly peers: PeerService;
  readonly log: Logger;
  /** The VPGs of this agent (the replication engine; it may be created after this). */
  readonly vpgs: {
    list(): readonly VpgState[];
    stored(vpgId: string): StoredVpg | undefined;
  };
  /** Periodic capture (default 5 min; `run --metadata-interval-seconds`). */
  readonly intervalMs?: number;
}

const PUT_TIMEOUT_MS = 15_000;
const TRANSIENT: ReadonlySet<string> = new Set(['TIMEOUT', 'CONNECTION_CLOSED', 'UNAVAILABLE']);
const INVENTORY_KINDS: ReadonlySet<InventoryKind> = new Set(['host', 'vm', 'network']);

/**
 * Metadata packages on one agent, both roles: the capture of the VPGs it protects (shipped
 * over the peer link with `vpg.metadata.put`) and the store of those it receives. The daemon
 * starts it after the replication engine and before the peer links.
 */
export class MetadataService {
  readonly store: FileMetadataStore;
  private readonly capture: MetadataCapture;
  private readonly off: Unsubscribe[] = [];
  private readonly linkOff = new Map<string, () => void>();
  private readonly onLink = (link: PeerLink): void => this.watch(link);
  private readonly onUnlink = (agentId: string): void => {
    this.linkOff.get(agentId)?.();
    this.linkOff.delete(agentId);
  };

  constructor(private readonly options: MetadataServiceOptions) {
    this.store = new FileMetadataStore({
      dataDir: options.dataDir,
      log: options.log,
      vpg: (vpgId) => options.vpgs.stored(vpgId),
    });
    this.capture = new MetadataCapture({
      hypervisor: options.hypervisor,
      siteId: options.siteId,
      dir: join(options.stateDir, 'metadata'),
      log: options.log,
      sources: () => this.withRole('source'),
      ship: this.ship,
      ...(options.intervalMs !== undefined && { intervalMs: options.intervalMs }),
    });
  }

  /** What the recovery site holds (the engine's MissingConfiguration status). */
  get packages(): MetadataStore {
    return this.store;
  }

  async start(): Promise<void> {
    const { peers } = this.options;
    await this.store.load(this.withRole('target').map((v) => v.vpgId));
    this.off.push(peers.handleControl(VPG_METADATA_PUT, (p, caller) => this.store.put(p, caller)));
    for (const link of peers.links()) this.watch(link);
    peers.events.on('link', this.onLink);
    peers.events.on('unlink', this.onUnlink);
    await this.capture.start();
  }

  async stop(): Promise<void> {
    const { peers } = this.options;
    peers.events.off('link', this.onLink);
    peers.events.off('unlink', this.onUnlink);
    for (const off of [...this.off.splice(0), ...this.linkOff.values()]) off();
    this.linkOff.clear();
    await this.capture.stop();
  }

  handlers(): MetadataOperations {
    return createMetadataHandlers({
      hypervisor: this.options.hypervisor,
      vpg: (vpgId) => this.options.vpgs.stored(vpgId),
      store: this.store,
      captured: (vpgId) => this.capture.latest(vpgId),
    });
  }

  /** A VPG was created or its settings or VMs changed (the engine's vpgChanged). */
  vpgChanged(vpgId: string): void {
    this.capture.capture([vpgId]);
  }

  /** A VPG this agent protected was removed (the engine's vpgRemoved). */
  vpgRemoved(vpgId: string): Promise<void> {
    return this.capture.removed(vpgId);
  }

  /** The daemon's inventory.changed: VMs, hosts or networks may have changed. */
  inventoryChanged(kinds: readonly InventoryKind[]): void {
    if (kinds.some((k) => INVENTORY_KINDS.has(k))) this.capture.capture();
  }

  /** Resolves once no capture is queued or running (tests). */
  idle(): Promise<void> {
    return this.capture.idle();
  }

  private withRole(role: StoredVpg['role']): StoredVpg[] {
    return this.options.vpgs
      .list()
      .filter((v) => v.role === role)
      .flatMap((v) => this.options.vpgs.stored(v.vpgId) ?? []);
  }

  private watch(link: PeerLink): void {
    if (this.linkOff.has(link.peerAgentId)) return;
    const up = (): void => this.capture.linkUp(link.peerAgentId);
    link.on('up', up);
    this.linkOff.set(link.peerAgentId, () => link.off('up', up));
  }

  private readonly ship: MetadataShip = async (peerAgentId, pkg) => {
    const link = this.options.peers.link(peerAgentId);
    if (link?.state !== 'connected') return 'unreachable';
    try {
      return await callPeer(
        link,
        VPG_METADATA_PUT,
        { package: pkg },
        MetadataPutResultSchema,
        PUT_TIMEOUT_MS,
      );
    } catch (err) {
      if (isTidelineError(err) && TRANSIENT.has(err.code)) return 'unreachable';
      throw err;
    }
  };
}
