import { EventEmitter } from 'node:events';
import type { EstateSnapshot, InventoryKind, SiteDetails, VpgStatus } from '../../../app/protocol';
import { toTidelineError } from '../../../app/errors';
import type { AgentConnection } from '../agents/agent-connection';
import type { Clock } from '../util/clock';
import { drop } from '../util/drop';
import type { Logger } from '../util/log';
import { PEER_POLL_MS, fetchPeers, someLinkDown } from './peers';
import { buildSnapshot, type AgentInventory } from './snapshot';
import { fetchVpgs } from './vpgs';

export type EstateEvents = { 'estate.changed': [EstateSnapshot] };

interface Tracked {
  readonly connection: AgentConnection;
  inventory: AgentInventory | undefined;
  /** Kinds asked for by inventory.changed and not fetched yet; fetched one batch at a time. */
  readonly pending: Set<EstateKind>;
  refreshing: boolean;
  /** Re-fetches the peers while a link is not up (see PEER_POLL_MS). */
  peerPoll: unknown;
  readonly detach: () => void;
}

/** What the estate fetches from an agent: its inventory kinds and its VPGs (vpg.list). */
type EstateKind = InventoryKind;

const ALL_KINDS: readonly EstateKind[] = ['site', 'host', 'vm', 'peer', 'vpg'];

/**
 * Sites, hosts, VMs, peers and VPGs as the agents last answered. Loads everything when an agent
 * connects, re-fetches the kinds an inventory.changed names (the VPGs with any of them, and
 * on every vpg.status; the peers every PEER_POLL_MS while a link is not up), and emits one
 * coalesced 'estate.changed' after any burst of changes (connection states included).
 */
export class EstateCache extends EventEmitter<EstateEvents> {
  private readonly agents = new Map<string, Tracked>();
  /** Inventory loaded by an agent that is not attached yet (agents.add before it is saved). */
  private readonly preloaded = new Map<string, AgentInventory>();
  private emitTimer: unknown;

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly coalesceMs = 50,
  ) {
    super();
  }

  attach(connection: AgentConnection): void {
    const onChange = (): void => {
      if (connection.isConnected) this.pollPeers(connection.key);
      this.changed();
    };
    const onInventory = (p: { kinds: InventoryKind[] }): void =>
      this.request(connection.key, [...p.kinds, 'vpg']);
    const onVpgStatus = (p: { vpgId: string; status: VpgStatus; message?: string }): void => {
      this.setVpgStatus(connection.key, p.vpgId, p.status, p.message);
      this.request(connection.key, ['vpg']);
    };
    connection.on('change', onChange);
    connection.on('inventory.changed', onInventory);
    connection.on('vpg.status', onVpgStatus);
    const inventory = this.preloaded.get(connection.key);
    this.preloaded.delete(connection.key);
    this.agents.set(connection.key, {
      connection,
      inventory,
      pending: new Set(),
      refreshing: false,
      peerPoll: undefined,
      detach: () => {
        connection.off('change', onChange);
        connection.off('inventory.changed', onInventory);
        connection.off('vpg.status', onVpgStatus);
      },
    });
    this.changed();
  }

  detach(key: string): void {
    this.preloaded.delete(key);
    const tracked = this.agents.get(key);
    if (tracked === undefined) return;
    tracked.detach();
    this.clock.clear(tracked.peerPoll);
    this.agents.delete(key);
    this.changed();
  }

  /** Loads all inventory of a freshly connected agent (runs before it counts as connected). */
  async load(connection: AgentConnection): Promise<void> {
    await this.fetch(connection, ALL_KINDS);
  }

  /** Fetches the peers of one agent now (after pairing or unpairing through it). */
  async refreshPeers(key: string): Promise<void> {
    const tracked = this.agents.get(key);
    if (tracked === undefined || !tracked.connection.isConnected) return;
    await this.fetch(tracked.connection, ['peer']);
  }

  /** Fetches the VPGs of these agents now (after a VPG was created or removed through one). */
  async refreshVpgs(keys: readonly string[]): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        const tracked = this.agents.get(key);
        if (tracked === undefined || !tracked.connection.isConnected) return;
        await this.fetch(tracked.connection, ['vpg']);
      }),
    );
  }

  setSite(key: string, site: SiteDetails): void {
    const tracked = this.agents.get(key);
    if (tracked === undefined) return;
    tracked.inventory = {
      hosts: [],
      vms: [],
      ...tracked.inventory,
      site,
      siteFetchedAt: this.clock.now(),
    };
    this.changed();
  }

  snapshot(): EstateSnapshot {
    return buildSnapshot(
      [...this.agents.values()].map((t) => ({ view: t.connection.view(), inventory: t.inventory })),
    );
  }

  close(): void {
    this.preloaded.clear();
    for (const key of [...this.agents.keys()]) this.detach(key);
    this.clock.clear(this.emitTimer);
    this.emitTimer = undefined;
  }

  /** A vpg.status notification: the new status at once, before vpg.list answers. */
  private setVpgStatus(key: string, vpgId: string, status: VpgStatus, message?: string): void {
    const vpgs = this.agents.get(key)?.inventory?.vpgs;
    const index = vpgs?.findIndex((v) => v.vpgId === vpgId) ?? -1;
    const vpg = vpgs?.[index];
    if (vpgs === undefined || vpg === undefined) return;
    const { statusMessage: _old, ...rest } = vpg;
    vpgs[index] =
      message === undefined ? { ...rest, status } : { ...rest, status, statusMessage: message };
    this.changed();
  }

  private request(key: string, kinds: readonly EstateKind[]): void {
    const tracked = this.agents.get(key);
    if (tracked === undefined) return;
    for (const k of kinds) tracked.pending.add(k);
    if (!tracked.refreshing) drop(this.drain(tracked));
  }

  private async drain(tracked: Tracked): Promise<void> {
    tracked.refreshing = true;
    try {
      while (tracked.pending.size > 0) {
        const kinds = [...tracked.pending];
        tracked.pending.clear();
        try {
          await this.fetch(tracked.connection, kinds);
        } catch (err) {
          const e = toTidelineError(err);
          this.logger.warn(
            { key: tracked.connection.key, code: e.code, reason: e.message },
            'inventory refresh failed',
          );
        }
      }
    } finally {
      tracked.refreshing = false;
    }
  }

  private async fetch(connection: AgentConnection, kinds: readonly EstateKind[]): Promise<void> {
    const [site, hosts, vms, peers, vpgs] = await Promise.all([
      kinds.includes('site') ? connection.call('site.details') : undefined,
      kinds.includes('host') ? connection.call('host.list') : undefined,
      kinds.includes('vm') ? connection.call('vm.list') : undefined,
      kinds.includes('peer') ? fetchPeers(connection, this.logger) : undefined,
      kinds.includes('vpg') ? fetchVpgs(connection, this.logger) : undefined,
    ]);
    const tracked = this.agents.get(connection.key);
    if (tracked !== undefined && tracked.connection !== connection) return;
    const inv: AgentInventory = (tracked
      ? tracked.inventory
      : this.preloaded.get(connection.key)) ?? {
      hosts: [],
      vms: [],
    };
    if (site !== undefined) {
      inv.site = site;
      inv.siteFetchedAt = this.clock.now();
    }
    if (hosts !== undefined) inv.hosts = hosts;
    if (vms !== undefined) inv.vms = vms;
    if (peers !== undefined) inv.peers = peers;
    if (vpgs !== undefined) inv.vpgs = vpgs;
    if (tracked === undefined) return void this.preloaded.set(connection.key, inv);
    tracked.inventory = inv;
    if (peers !== undefined) this.pollPeers(connection.key);
    this.changed();
  }

  /** Asks again in PEER_POLL_MS while one of the agent's links is not up. */
  private pollPeers(key: string): void {
    const tracked = this.agents.get(key);
    if (tracked === undefined || tracked.peerPoll !== undefined) return;
    if (!someLinkDown(tracked.inventory?.peers)) return;
    tracked.peerPoll = this.clock.set(PEER_POLL_MS, () => {
      tracked.peerPoll = undefined;
      if (this.agents.get(key) === tracked && tracked.connection.isConnected)
        this.request(key, ['peer']);
    });
  }

  private changed(): void {
    if (this.emitTimer !== undefined) return;
    this.emitTimer = this.clock.set(this.coalesceMs, () => {
      this.emitTimer = undefined;
      this.emit('estate.changed', this.snapshot());
    });
  }
}
