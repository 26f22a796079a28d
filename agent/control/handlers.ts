import { TidelineError } from '../../app/errors';
import {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type AgentIdentity,
  type AgentMethods,
  type Handlers,
  type InventoryKind,
  type Vm,
} from '../../app/protocol';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { SiteStore } from '../site/site-store';
import type { ReplicationOperations } from '../replication/engine';
import type { MetricsHistory } from '../metrics/metrics-history';
import { createPairingHandlers, type PairingOperations } from './pairing-handlers';
import { createReplicationHandlers } from './replication-handlers';
import { createTaskHandlers } from './task-handlers';
import { createPolicyHandlers } from './policy-handlers';
import type { PolicyOperations } from '../policy/policy-operations';
import { createAlertHandlers } from './alert-handlers';
import { createFailoverHandlers, type FailoverOperations } from './failover-handlers';
import type { AlertStore } from '../alerts/alert-store';
import { createSupportHandlers } from './support-handlers';
import type { SupportService } from '../support/support-service';
import type { TaskManager } from '../tasks/task-manager';
import { isHandshaken, type Session } from './session';
import { AGENT_VERSION } from '../version';

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export interface HandlerDeps {
  /** The agent's identity; siteName is read from the site store at each call. */
  readonly identity: Omit<AgentIdentity, 'siteName'>;
  readonly site: SiteStore;
  readonly hypervisor: HypervisorAdapter;
  /** Tells every connected console that part of the inventory changed. */
  readonly inventoryChanged: (kinds: InventoryKind[]) => void;
  /** Site pairing (site.pairingToken/pair/unpair/peers); absent: those answer UNAVAILABLE. */
  readonly pairing?: PairingOperations;
  /** VPGs, checkpoints and workloads; absent: those answer UNAVAILABLE. */
  readonly replication?: ReplicationOperations;
  /** metrics.history of the VPGs (agent/metrics); absent: it answers UNAVAILABLE. */
  readonly metrics?: Pick<MetricsHistory, 'query'>;
  /** task.*; absent: those answer UNAVAILABLE. */
  readonly tasks?: TaskManager;
  /** The NBD server: vm.list shows each disk's exportUri / exportError; absent: neither. */
  readonly exports?: { annotate(vms: Vm[]): Promise<Vm[]> };
  /** alert.list / alert.ack; absent: they answer UNAVAILABLE. */
  readonly alerts?: Pick<AlertStore, 'list' | 'ack'>;
  /** policy.get / policy.set / policy.validate; absent: they answer UNAVAILABLE. */
  readonly policies?: PolicyOperations;
  /** failover.*, vpg.settingsForReverse, vpg.metadata, network.list; absent: UNAVAILABLE. */
  readonly failover?: FailoverOperations;
  /** log.collect / log.bundleRead / log.bundleRemove; absent: they answer UNAVAILABLE. */
  readonly support?: SupportService;
  /** Protocol versions served; default [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION]. */
  readonly versions?: VersionRange;
}

/** Everything but hello needs a finished handshake (the Dispatcher's `guard`). */
export function handshakeGuard(method: string, session: Session): void {
  if (method === 'hello' || isHandshaken(session)) return;
  throw new TidelineError(
    'HANDSHAKE_REQUIRED',
    `Call hello first: "${method}" is refused until this connection has agreed on a protocol version`,
  );
}

/**
 * The version both sides speak: the highest the agent serves up to the requested one (the
 * console speaks every version up to the one it asks for), as negotiateVersion in app/.
 */
export function negotiate(requested: number, range: VersionRange): number | undefined {
  if (requested < range.min) return undefined;
  return Math.min(requested, range.max);
}

export function createHandlers(deps: HandlerDeps): Handlers<AgentMethods, Session> {
  const versions = deps.versions ?? { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };
  return {
    hello: (params, session) => {
      const agreed = negotiate(params.protocolVersion, versions);
      if (agreed === undefined) {
        throw new TidelineError(
          'PROTOCOL_VERSION',
          `This agent speaks protocol versions ${versions.min}–${versions.max}; the console asked for ${params.protocolVersion}. Upgrade the console or the agent.`,
          { supported: { ...versions }, requested: params.protocolVersion },
        );
      }
      session.protocolVersion = agreed;
      return {
        protocolVersion: agreed,
        supported: { ...versions },
        agent: { ...deps.identity, siteName: deps.site.details.name },
      };
    },
    'site.details': () => deps.site.details,
    'site.setDetails': async (patch) => {
      const details = await deps.site.update(patch);
      deps.inventoryChanged(['site']);
      return details;
    },
    ...createPairingHandlers(deps.pairing),
    ...createReplicationHandlers(deps.replication, deps.metrics),
    ...createTaskHandlers(deps.tasks),
    ...createPolicyHandlers(deps.policies),
    ...createAlertHandlers(deps.alerts),
    ...createFailoverHandlers(deps.failover),
    ...createSupportHandlers(deps.support),
    // This agent runs here: the state it knows of itself, and its version.
    'host.list': async () =>
      (await deps.hypervisor.listHosts()).map((h) => ({
        ...h,
        agentState: 'installed' as const,
        agentVersion: AGENT_VERSION,
      })),
    'vm.list': async (params) => {
      const hostId = params?.hostId;
      if (hostId !== undefined) {
        const hosts = await deps.hypervisor.listHosts();
        if (!hosts.some((h) => h.hostId === hostId)) {
          throw new TidelineError('NOT_FOUND', `Host "${hostId}" is not managed by this agent`, {
            hostId,
          });
        }
      }
      const vms = await deps.hypervisor.listVms(hostId === undefined ? {} : { hostId });
      return deps.exports === undefined ? vms : deps.exports.annotate(vms);
    },
  };
}
