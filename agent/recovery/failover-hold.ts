import type { VpgStatus } from '../../app/protocol';
import type { RecoveryHold } from '../replication/target-vpg';
import type { FailoverRecord } from './failover-store';

/** What a failover's phase makes of its VPG at the recovery site. */
export function holdFor(
  record: Pick<FailoverRecord, 'mode' | 'phase' | 'moveCheckpointPending' | 'reverseVpgId'>,
): RecoveryHold | undefined {
  const live = record.mode !== 'test';
  const hold = (status: VpgStatus, pauseStream: boolean): RecoveryHold => ({ status, pauseStream });
  switch (record.phase) {
    case 'Running':
      // A move's last writes and its checkpoint are still on their way.
      if (record.moveCheckpointPending === true) return hold('FailingOver', false);
      return live ? hold('FailingOver', true) : hold('TestFailover', false);
    case 'Testing':
    case 'BeforeCommit':
    case 'Stopping':
    case 'RollingBack':
      return live ? hold('FailingOver', true) : hold('TestFailover', false);
    case 'Committing':
    case 'Promoting':
      return hold('Promoting', true);
    case 'Committed':
      // With reverse protection the VPG left this site; the reverse VPG shows the state.
      return record.reverseVpgId !== undefined ? undefined : hold('NeedReverseConfiguration', true);
    case 'RolledBack':
    case 'Stopped':
    case 'Failed':
      return undefined;
  }
}
