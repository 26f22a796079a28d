import { policyInForce } from '../../app/policy/policy';
import type { InForce, Policy, PolicyTarget } from '../../app/policy/policy-schemas';
import type { Logger } from '../log';
import { targetKey, type PolicyStore } from './policy-store';
import { TokenBucket } from './token-bucket';

/** What the scheduler needs to know of a VPG of this agent. */
export interface PolicyVpgInfo {
  readonly role: 'source' | 'target';
  readonly peerAgentId: string;
  /** The VPG's own target, used when no policy is bound. */
  readonly rpoTargetSeconds: number;
}

/** Seed and zero records (initial sync, resync) are seeding; everything else replication. */
export type TrafficClass = 'replication' | 'seeding';

/** The throttle a source VPG's records pass before they are handed to the link. */
export interface RecordThrottle {
  /** False when no limit applies now: records go as they are, in one piece. */
  limited(): boolean;
  take(traffic: TrafficClass, bytes: number): Promise<void>;
}

/** What the replication engine uses of the policies. */
export interface ReplicationPolicies {
  throttle(vpgId: string, peerAgentId: string): RecordThrottle;
  /** `fallback`: the VPG's own target, for a VPG the scheduler cannot look up yet. */
  rpoTargetAt(vpgId: string, now: number, fallback?: number): number;
}

export interface PolicySchedulerOptions {
  readonly store: PolicyStore;
  /** A VPG of this agent, or undefined when there is none. */
  readonly vpg: (vpgId: string) => PolicyVpgInfo | undefined;
  readonly log: Logger;
  /** Wall clock (ms since the epoch); tests may pass their own. */
  readonly now?: () => number;
  /** Longest timer (default 1 h): re-evaluating on wake absorbs clock changes. */
  readonly maxTimerMs?: number;
}

interface Buckets {
  readonly replication: TokenBucket;
  readonly seeding: TokenBucket;
}

const HOUR_MS = 3_600_000;

/**
 * Enforces the calendar policies bound on this agent: for every bound target it evaluates
 * what is in force, sets the token buckets of that site link or VPG to its limits, and sleeps
 * until the next change (at most an hour, then looks again, so a clock change or a DST
 * transition never leaves an old limit in force). A source VPG's records pass its own
 * buckets and then its link's (the link's limit is the whole link's); a VPG's own policy
 * overrides its link's for the RPO target.
 */
export class PolicyScheduler implements ReplicationPolicies {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly buckets = new Map<string, Buckets>();
  private running = false;

  constructor(private readonly options: PolicySchedulerOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  start(): void {
    this.running = true;
    for (const { target } of this.options.store.list()) this.evaluate(target);
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** The target's binding changed (policy.set): apply it now and plan its next change. */
  rebind(target: PolicyTarget): void {
    this.evaluate(target);
  }

  /** What is in force for `target` at `at`: a VPG's own policy, else its link's. */
  inForce(target: PolicyTarget, at = this.now()): InForce | undefined {
    const own = this.options.store.get(target);
    if (own !== undefined) return policyInForce(own, at);
    if (target.kind === 'link') return undefined;
    const vpg = this.options.vpg(target.vpgId);
    if (vpg === undefined) return undefined;
    const link = this.options.store.get({ kind: 'link', peerAgentId: vpg.peerAgentId });
    return link === undefined ? undefined : policyInForce(link, at);
  }

  /**
   * The RPO target of a VPG at `now`: its own policy's, else its link's, else the VPG's own
   * rpoTargetSeconds (or `fallback`). Used for rpo.tick, the RpoNotMet status and RPO alerts.
   */
  rpoTargetAt(vpgId: string, now: number, fallback?: number): number {
    const inForce = this.inForce({ kind: 'vpg', vpgId }, now);
    if (inForce !== undefined) return inForce.rpoTargetSeconds;
    const own = this.options.vpg(vpgId)?.rpoTargetSeconds ?? fallback;
    if (own === undefined) throw new Error(`rpoTargetAt: no VPG ${vpgId} on this agent`);
    return own;
  }

  throttle(vpgId: string, peerAgentId: string): RecordThrottle {
    const vpg = this.bucketsOf({ kind: 'vpg', vpgId });
    const link = this.bucketsOf({ kind: 'link', peerAgentId });
    const all = [vpg.replication, vpg.seeding, link.replication, link.seeding];
    return {
      limited: () => all.some((bucket) => bucket.rate !== undefined),
      take: async (traffic, bytes) => {
        await vpg[traffic].take(bytes);
        await link[traffic].take(bytes);
      },
    };
  }

  /** The limits a target's buckets follow: its own policy only (a link's covers the link). */
  private limits(target: PolicyTarget, at: number): { replication?: number; seeding?: number } {
    const policy: Policy | undefined = this.options.store.get(target);
    if (policy === undefined) return {};
    const inForce = policyInForce(policy, at);
    return {
      ...(inForce.replicationBitsPerSecond !== undefined && {
        replication: inForce.replicationBitsPerSecond / 8,
      }),
      ...(inForce.seedingBitsPerSecond !== undefined && {
        seeding: inForce.seedingBitsPerSecond / 8,
      }),
    };
  }

  private bucketsOf(target: PolicyTarget): Buckets {
    const key = targetKey(target);
    let buckets = this.buckets.get(key);
    if (buckets === undefined) {
      const limits = this.limits(target, this.now());
      buckets = {
        replication: new TokenBucket(limits.replication),
        seeding: new TokenBucket(limits.seeding),
      };
      this.buckets.set(key, buckets);
    }
    return buckets;
  }

  private evaluate(target: PolicyTarget): void {
    const key = targetKey(target);
    const pending = this.timers.get(key);
    if (pending !== undefined) clearTimeout(pending);
    this.timers.delete(key);
    const now = this.now();
    const policy = this.options.store.get(target);
    const buckets = this.buckets.get(key);
    if (policy === undefined) {
      buckets?.replication.setRate(undefined);
      buckets?.seeding.setRate(undefined);
      return;
    }
    const inForce = policyInForce(policy, now);
    const limits = this.limits(target, now);
    buckets?.replication.setRate(limits.replication);
    buckets?.seeding.setRate(limits.seeding);
    this.options.log.info(
      {
        target,
        timeframe: inForce.timeframeName,
        rpoTargetSeconds: inForce.rpoTargetSeconds,
        replicationBitsPerSecond: inForce.replicationBitsPerSecond ?? null,
        seedingBitsPerSecond: inForce.seedingBitsPerSecond ?? null,
        until: new Date(inForce.until).toISOString(),
      },
      'policy in force',
    );
    if (!this.running) return;
    // Just past the boundary; a stale `until` (clock moved) is looked at again in a second.
    const next = inForce.until > now ? inForce.until - now + 1 : 1000;
    const wait = Math.min(next, this.options.maxTimerMs ?? HOUR_MS);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.evaluate(target);
    }, wait);
    timer.unref();
    this.timers.set(key, timer);
  }
}
