import CheckCircle from '@mui/icons-material/CheckCircle';
import ErrorOutline from '@mui/icons-material/ErrorOutlineOutlined';
import HourglassTop from '@mui/icons-material/HourglassTop';
import RemoveCircleOutline from '@mui/icons-material/RemoveCircleOutlineOutlined';
import Chip, { type ChipProps } from '@mui/material/Chip';
import type { ReactElement } from 'react';
import type { HostAgentState } from '../../../../app/protocol/console-hosts-api';

const LOOKS: Record<
  HostAgentState,
  { label: string; color: ChipProps['color']; icon: ReactElement }
> = {
  NotInstalled: { label: 'Not installed', color: 'default', icon: <RemoveCircleOutline /> },
  Installing: { label: 'Installing…', color: 'info', icon: <HourglassTop /> },
  Installed: { label: 'Installed', color: 'success', icon: <CheckCircle /> },
  Upgrading: { label: 'Upgrading…', color: 'info', icon: <HourglassTop /> },
  Uninstalling: { label: 'Uninstalling…', color: 'info', icon: <HourglassTop /> },
  Failed: { label: 'Failed', color: 'error', icon: <ErrorOutline /> },
};

/** The agent's state on a host, as the console's deployer knows it. */
export function HostStateChip({ state }: { readonly state: HostAgentState }) {
  const look = LOOKS[state];
  return (
    <Chip
      role="status"
      size="small"
      variant="outlined"
      label={look.label}
      color={look.color}
      icon={look.icon}
    />
  );
}
