import { TidelineError, toTidelineError } from '../../../app/errors';
import { DEFAULT_RPO_GRACE_SECONDS } from '../../../app/alerts/alert-schemas';
import { METRICS_MINUTE_RETENTION_MS } from '../../../app/metrics/metrics-schemas';
import {
  PLANNING_HISTORY_MINUTES,
  type MetricsHistory,
  type Peer,
  type PlanningContext,
  type PlanningContextParams,
  type PlanningVpg,
  type RateHistory,
  type VpgState,
} from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { CachedContext, PlanningCache } from './planning-cache';

/** A cached context younger than this is served without asking the agent. */
export const PLANNING_CACHE_FRESH_MS = 10 * 60_000;
const MINUTE_MS = 60_000;
/** Histories fetched at once: 7 days of minutes is about 10 000 points each. */
const HISTORY_CONCURRENCY = 4;

export interface PlanningAccess {
  readonly cache: PlanningCache;
  readonly clock: Clock;
  readonly logger: Logger;
  connectedAgent(agentId: string): AgentConnection | undefined;
}

/**
 * planner.context: what the planner needs for the link a policy target replicates over —
 * its VPGs' settings, the applied policies and 7 days of measured write rates per minute —
 * from the link's sending agent when it is connected, and kept; otherwise the last fetch.
 */
export async function planningContext(
  access: PlanningAccess,
  params: PlanningContextParams,
): Promise<PlanningContext> {
  const cached = cachedFor(access.cache, params);
  const agent = access.connectedAgent(params.agentId);
  if (agent === undefined) {
    if (cached !== undefined) return { ...cached, source: 'cache' };
    throw new TidelineError(
      'NOT_FOUND',
      `Nothing measured is kept for ${describe(params)} yet, and its agent is not connected. ` +
        'Connect the agent once (the console keeps 7 days of its measured rates for planning ' +
        'offline), or plan with a synthetic profile.',
      { agentId: params.agentId },
    );
  }
  const now = access.clock.now();
  if (
    params.refresh !== true &&
    cached !== undefined &&
    now - cached.fetchedAt < PLANNING_CACHE_FRESH_MS
  ) {
    return { ...cached, source: 'cache' };
  }
  try {
    const fresh = await fetchContext(agent, params, now);
    access.cache.save(fresh);
    access.logger.info(
      { agentId: fresh.agentId, peerAgentId: fresh.peerAgentId, vpgs: fresh.vpgs.length },
      'planning context fetched',
    );
    return { ...fresh, source: 'agent' };
  } catch (err) {
    // The agent went away mid-fetch: the last fetch still plans.
    if (cached !== undefined) {
      access.logger.warn(
        { err, agentId: params.agentId },
        'planning context fetch failed; cache used',
      );
      return { ...cached, source: 'cache' };
    }
    const e = toTidelineError(err);
    throw new TidelineError(
      e.code,
      `The measured rates of ${describe(params)} could not be fetched: ${e.message}`,
      { agentId: params.agentId },
    );
  }
}

function cachedFor(cache: PlanningCache, params: PlanningContextParams): CachedContext | undefined {
  return params.target.kind === 'link'
    ? cache.link(params.agentId, params.target.peerAgentId)
    : cache.ofVpg(params.agentId, params.target.vpgId);
}

async function fetchContext(
  agent: AgentConnection,
  params: PlanningContextParams,
  now: number,
): Promise<CachedContext> {
  const [peers, vpgs] = await Promise.all([agent.call('site.peers'), agent.call('vpg.list')]);
  const sources = vpgs.filter((v) => v.role === 'source');
  let peer;
  if (params.target.kind === 'link') {
    const peerAgentId = params.target.peerAgentId;
    peer = peers.find((p) => p.agentId === peerAgentId);
    if (peer === undefined) {
      throw new TidelineError('NOT_FOUND', `This agent is not paired with agent ${peerAgentId}.`);
    }
  } else {
    const vpgId = params.target.vpgId;
    const vpg = sources.find((v) => v.vpgId === vpgId);
    if (vpg === undefined) {
      throw new TidelineError('NOT_FOUND', `This agent does not protect VPG ${vpgId}.`);
    }
    peer = peers.find((p) => p.siteId === vpg.recoverySiteId);
    if (peer === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `The recovery site of VPG "${vpg.name}" is not paired with this agent.`,
      );
    }
  }
  const onLink = sources.filter((v) => v.recoverySiteId === peer.siteId);
  const to = now;
  const from = Math.max(0, now - METRICS_MINUTE_RETENTION_MS);
  const linkRecord = await agent.call('policy.get', {
    target: { kind: 'link', peerAgentId: peer.agentId },
  });
  const planned = await mapLimited(onLink, HISTORY_CONCURRENCY, async (v) =>
    planningVpg(agent, v, from, to),
  );
  const identity = agent.agentIdentity;
  return {
    agentId: params.agentId,
    peerAgentId: peer.agentId,
    linkName: `Link ${identity?.siteName ?? params.agentId} → ${peer.siteName}`,
    fetchedAt: now,
    ...(linkRecord.policy !== undefined && { linkPolicy: linkRecord.policy }),
    vpgs: planned,
    graceSeconds: DEFAULT_RPO_GRACE_SECONDS,
    ...wireShareOf(peer),
  };
}

/** Records sent over a compressing link before its wire share is planned on. */
const MIN_MEASURED_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * The share of the record bytes a compressing link put on the wire since it came up; none
 * for an uncompressed link, or one that has carried too little to tell.
 */
export function wireShareOf(peer: Peer): { wireShare?: number } {
  const traffic = peer.traffic;
  if (peer.compression !== 'lz4' || traffic === undefined) return {};
  if (traffic.recordBytes < MIN_MEASURED_RECORD_BYTES || traffic.wireBytes <= 0) return {};
  return { wireShare: Math.min(1, traffic.wireBytes / traffic.recordBytes) };
}

async function planningVpg(
  agent: AgentConnection,
  vpg: VpgState,
  from: number,
  to: number,
): Promise<PlanningVpg> {
  const [record, history] = await Promise.all([
    agent.call('policy.get', { target: { kind: 'vpg', vpgId: vpg.vpgId } }),
    agent.call('metrics.history', { vpgId: vpg.vpgId, from, to, resolution: 'minute' }),
  ]);
  return {
    vpgId: vpg.vpgId,
    name: vpg.name,
    rpoTargetSeconds: vpg.rpoTargetSeconds,
    checkpointIntervalSeconds: vpg.checkpointIntervalMs / 1000,
    journal: vpg.journal,
    ...(record.policy !== undefined && { policy: record.policy }),
    history: rateHistory(history),
  };
}

/** Minute points to one rate per minute from the first, null where none was kept. */
export function rateHistory(history: MetricsHistory): RateHistory {
  const first = history.points[0];
  if (first === undefined)
    return { from: Math.floor(history.to / MINUTE_MS) * MINUTE_MS, rates: [] };
  const from = Math.floor(first.time / MINUTE_MS) * MINUTE_MS;
  const last = history.points.at(-1) ?? first;
  const length = Math.min(PLANNING_HISTORY_MINUTES, Math.floor((last.time - from) / MINUTE_MS) + 1);
  const rates: (number | null)[] = new Array<number | null>(length).fill(null);
  for (const p of history.points) {
    const i = Math.floor((p.time - from) / MINUTE_MS);
    // Whole bytes per second: the file stays small, and nothing plans on fractions of a byte.
    if (i >= 0 && i < length) rates[i] = Math.round(p.writtenBytesPerSecond);
  }
  return { from, rates };
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function describe(params: PlanningContextParams): string {
  return params.target.kind === 'link'
    ? `the link to agent ${params.target.peerAgentId}`
    : `VPG ${params.target.vpgId}`;
}
