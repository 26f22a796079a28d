import { z } from 'zod';
import type { ControlCaller } from '../peer/control-channel';
import { callPeer, parsePeer } from '../replication/vpg-control';
import { requireVpgPeer } from '../replication/vpg-peer-guard';
import { messageOf, type FailoverContext } from './failover-context';
import type { FailoverRecord } from './failover-store';

/** Peer control: the recovery site asks the protected site to power its VMs off. */
export const FAILOVER_SHUTDOWN = 'failover.shutdownVms';
const ShutdownParamsSchema = z.object({ vpgId: z.string(), vmIds: z.array(z.string()) });
const ShutdownResultSchema = z.object({ poweredOff: z.number().int().nonnegative() });
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Live failover with shutdownProtectedVms: best effort, the protected site may be lost. */
export async function shutdownProtected(
  ctx: FailoverContext,
  record: FailoverRecord,
): Promise<void> {
  const link =
    record.peerAgentId === undefined ? undefined : ctx.options.peers.link(record.peerAgentId);
  if (link?.state !== 'connected') {
    ctx.options.log.warn(
      { vpgId: record.vpgId },
      'the protected site is unreachable: its VMs are not shut down',
    );
    return;
  }
  try {
    await callPeer(
      link,
      FAILOVER_SHUTDOWN,
      { vpgId: record.vpgId, vmIds: record.vms.map((v) => v.sourceVmId) },
      ShutdownResultSchema,
      SHUTDOWN_TIMEOUT_MS,
    );
  } catch (err) {
    ctx.options.log.warn(
      { vpgId: record.vpgId, err: messageOf(err) },
      'the protected site did not shut its VMs down',
    );
  }
}

/** Peer control at the protected site: power off VMs of a VPG protected from here. */
export async function shutdownHere(
  ctx: FailoverContext,
  params: unknown,
  caller: ControlCaller,
): Promise<z.infer<typeof ShutdownResultSchema>> {
  const { vpgId, vmIds } = parsePeer(ShutdownParamsSchema, params, FAILOVER_SHUTDOWN);
  // Only the VPG's own recovery site may power its VMs off.
  const vpg = requireVpgPeer(ctx.options.replication.storedVpg(vpgId), vpgId, 'source', caller);
  let poweredOff = 0;
  for (const vmId of vmIds.filter((id) => vpg.vmIds.includes(id))) {
    await ctx.options.hypervisor.powerOff(vmId);
    poweredOff += 1;
  }
  if (poweredOff > 0) ctx.options.inventoryChanged(['vm']);
  return { poweredOff };
}
