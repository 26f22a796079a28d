import { TidelineError } from '../../app/errors';
import type { MetadataPackage } from '../../app/protocol';
import type { MetadataOperations } from '../control/failover-handlers';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { StoredVpg } from '../replication/vpg-store';
import type { MetadataStore } from './recovery-types';

export interface MetadataHandlerDeps {
  readonly hypervisor: Pick<HypervisorAdapter, 'listNetworks'>;
  /** The VPG as this agent stores it, either role. */
  readonly vpg: (vpgId: string) => StoredVpg | undefined;
  /** Recovery site: the packages received. */
  readonly store: MetadataStore;
  /** Protected site: the latest capture. */
  readonly captured: (vpgId: string) => MetadataPackage | undefined;
}

/**
 * vpg.metadata (the recovery site answers from its store, the protected site from its latest
 * capture) and network.list (the hypervisor's networks).
 */
export function createMetadataHandlers(deps: MetadataHandlerDeps): MetadataOperations {
  return {
    'vpg.metadata': ({ vpgId }) => {
      const vpg = deps.vpg(vpgId);
      if (vpg === undefined) {
        throw new TidelineError('NOT_FOUND', `VPG ${vpgId} is not on this agent`, { vpgId });
      }
      if (vpg.role === 'target') {
        const pkg = deps.store.latest(vpgId);
        if (pkg !== undefined) return pkg;
        throw new TidelineError(
          'NOT_FOUND',
          `This recovery site has no metadata package of VPG "${vpg.name}" yet: its protected site sends one when the VPG is created or changed and every few minutes; check that the link between the sites is up`,
          { vpgId },
        );
      }
      const pkg = deps.captured(vpgId);
      if (pkg !== undefined) return pkg;
      throw new TidelineError(
        'NOT_FOUND',
        `The metadata of VPG "${vpg.name}" has not been captured yet (the hypervisor's inventory could not be read, see the agent's log): retry in a moment`,
        { vpgId },
      );
    },
    'network.list': () => deps.hypervisor.listNetworks(),
  };
}
