import { EventEmitter } from 'node:events';
import type { ProtectionTick, ProtectionTicks, RpoTick, VpgView } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Clock } from '../util/clock';

export type TickEvents = { 'protection.tick': [ProtectionTicks] };

export interface TickStoreOptions {
  /** Least time between two protection.tick (default 1000 ms). */
  readonly intervalMs?: number;
  /** How long a first tick waits for the others of the same second (default 100 ms). */
  readonly batchMs?: number;
}

interface Received {
  readonly tick: ProtectionTick;
  readonly at: number;
}

/** A tick of a VPG no agent lists (yet) is kept this long: created VPGs tick before vpg.list. */
const UNLISTED_KEEP_MS = 15_000;

/**
 * The latest rpo.tick of each VPG from each agent, and protection.tick: the VPGs whose tick
 * changed, batched, at most once per intervalMs. When two agents tick for one VPG (both
 * sides), the one the estate shows the VPG from wins while its ticks are fresh.
 */
export class TickStore extends EventEmitter<TickEvents> {
  /** agentKey → vpgId → latest tick, and when it arrived (console clock). */
  private readonly ticks = new Map<string, Map<string, Received>>();
  private readonly detachers = new Map<string, () => void>();
  /** vpgId → the agent the estate shows it from. */
  private reporters = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** Removed VPGs (vpgId → when): a tick still in flight must not bring them back. */
  private readonly forgotten = new Map<string, number>();
  private timer: unknown;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private readonly intervalMs: number;
  private readonly batchMs: number;

  constructor(
    private readonly clock: Clock,
    options: TickStoreOptions = {},
  ) {
    super();
    this.intervalMs = options.intervalMs ?? 1000;
    this.batchMs = options.batchMs ?? 100;
  }

  attach(connection: AgentConnection): void {
    this.detach(connection.key);
    const onTick = (tick: RpoTick): void => {
      const siteId = connection.agentIdentity?.siteId;
      if (siteId !== undefined) this.record(connection.key, siteId, tick);
    };
    connection.on('rpo.tick', onTick);
    this.detachers.set(connection.key, () => connection.off('rpo.tick', onTick));
  }

  /** Stops listening to an agent and forgets its ticks. */
  detach(key: string): void {
    this.detachers.get(key)?.();
    this.detachers.delete(key);
    this.ticks.delete(key);
  }

  record(agentKey: string, siteId: string, tick: RpoTick): void {
    const gone = this.forgotten.get(tick.vpgId);
    if (gone !== undefined && this.clock.now() - gone < UNLISTED_KEEP_MS) return;
    let byVpg = this.ticks.get(agentKey);
    if (byVpg === undefined) this.ticks.set(agentKey, (byVpg = new Map()));
    byVpg.set(tick.vpgId, { tick: { ...tick, siteId, agentKey }, at: this.clock.now() });
    this.dirty.add(tick.vpgId);
    this.schedule();
  }

  /** The estate's VPGs changed: whose ticks to prefer, and which VPGs are gone. */
  setVpgs(vpgs: readonly VpgView[]): void {
    this.reporters = new Map(vpgs.map((v) => [v.vpgId, v.agentKey]));
    const cutoff = this.clock.now() - UNLISTED_KEEP_MS;
    for (const byVpg of this.ticks.values()) {
      for (const [vpgId, { at }] of byVpg) {
        if (!this.reporters.has(vpgId) && at < cutoff) byVpg.delete(vpgId);
      }
    }
  }

  /** Forgets a removed VPG's ticks, and ignores its ticks still under way for a while. */
  forget(vpgId: string): void {
    for (const byVpg of this.ticks.values()) byVpg.delete(vpgId);
    this.dirty.delete(vpgId);
    const now = this.clock.now();
    for (const [id, at] of this.forgotten)
      if (now - at >= UNLISTED_KEEP_MS) this.forgotten.delete(id);
    this.forgotten.set(vpgId, now);
  }

  /** The latest tick of every VPG. */
  latest(): ProtectionTicks {
    const vpgIds = new Set<string>();
    for (const byVpg of this.ticks.values()) for (const id of byVpg.keys()) vpgIds.add(id);
    return { ticks: this.pick(vpgIds) };
  }

  close(): void {
    for (const key of [...this.detachers.keys()]) this.detach(key);
    this.clock.clear(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  private pick(vpgIds: Iterable<string>): ProtectionTick[] {
    const result: ProtectionTick[] = [];
    for (const vpgId of vpgIds) {
      let newest: Received | undefined;
      for (const byVpg of this.ticks.values()) {
        const r = byVpg.get(vpgId);
        if (r !== undefined && (newest === undefined || r.at > newest.at)) newest = r;
      }
      if (newest === undefined) continue;
      const reporter = this.reporters.get(vpgId);
      const preferred = reporter === undefined ? undefined : this.ticks.get(reporter)?.get(vpgId);
      const fresh = preferred !== undefined && newest.at - preferred.at <= 3 * this.intervalMs;
      result.push(fresh ? preferred.tick : newest.tick);
    }
    return result;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const delay = Math.max(this.batchMs, this.lastFlush + this.intervalMs - this.clock.now());
    this.timer = this.clock.set(delay, () => this.flush());
  }

  private flush(): void {
    this.timer = undefined;
    this.lastFlush = this.clock.now();
    const changed = this.pick(this.dirty);
    this.dirty.clear();
    if (changed.length > 0) this.emit('protection.tick', { ticks: changed });
  }
}
