import Block from '@mui/icons-material/Block';
import CheckCircle from '@mui/icons-material/CheckCircle';
import GppMaybe from '@mui/icons-material/GppMaybe';
import HourglassTop from '@mui/icons-material/HourglassTop';
import LockOutlined from '@mui/icons-material/LockOutlined';
import SyncProblem from '@mui/icons-material/SyncProblem';
import Chip, { type ChipProps } from '@mui/material/Chip';
import type { ReactElement } from 'react';
import type { AgentConnectionState } from '../../../app/protocol/console-api';
import { formatCountdown } from '../../lib/format';
import { useNow } from '../../lib/use-now';

interface Props {
  readonly state: AgentConnectionState;
  readonly nextRetryAt: number | undefined;
}

interface Look {
  readonly label: string;
  readonly color: ChipProps['color'];
  readonly icon: ReactElement;
}

/** An agent's connection state; "retrying" counts down to the next attempt. */
export function AgentStateChip({ state, nextRetryAt }: Props) {
  const now = useNow(state === 'retrying' && nextRetryAt !== undefined);
  const look = describe(state, nextRetryAt, now);
  return (
    <Chip
      role="status"
      size="small"
      label={look.label}
      color={look.color}
      icon={look.icon}
      variant="outlined"
    />
  );
}

function describe(state: AgentConnectionState, nextRetryAt: number | undefined, now: number): Look {
  switch (state) {
    case 'connected':
      return { label: 'Connected', color: 'success', icon: <CheckCircle /> };
    case 'connecting':
      return { label: 'Connecting…', color: 'info', icon: <HourglassTop /> };
    case 'retrying':
      return {
        label:
          nextRetryAt === undefined || nextRetryAt <= now
            ? 'Retrying…'
            : `Retrying in ${formatCountdown(nextRetryAt, now)}`,
        color: 'warning',
        icon: <SyncProblem />,
      };
    case 'unauthorized':
      return { label: 'Unauthorized', color: 'error', icon: <LockOutlined /> };
    case 'fingerprint-mismatch':
      return { label: 'Fingerprint mismatch', color: 'error', icon: <GppMaybe /> };
    case 'incompatible':
      return { label: 'Incompatible', color: 'error', icon: <Block /> };
  }
}
