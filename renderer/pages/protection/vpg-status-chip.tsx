import Chip from '@mui/material/Chip';
import type { VpgStatus } from '../../../app/vpg/vpg-schemas';
import { VPG_STATUS } from '../../lib/protection';

interface Props {
  readonly status: VpgStatus;
  /** Why it is in Error or Paused, as the agent says. */
  readonly message?: string | undefined;
}

const FILLED: ReadonlySet<VpgStatus> = new Set(['RpoNotMet', 'Error']);

/** A VPG's status: green while protecting, red when the RPO is not met or it failed. */
export function VpgStatusChip({ status, message }: Props) {
  const meta = VPG_STATUS[status];
  return (
    <Chip
      role="status"
      size="small"
      label={meta.label}
      color={meta.color}
      variant={FILLED.has(status) ? 'filled' : 'outlined'}
      title={message}
      data-status={status}
    />
  );
}
