import CheckCircle from '@mui/icons-material/CheckCircle';
import HourglassTop from '@mui/icons-material/HourglassTop';
import LinkOff from '@mui/icons-material/LinkOff';
import Chip, { type ChipProps } from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';
import type { ReactElement } from 'react';
import type { PeerLinkState } from '../../../../app/protocol/pairing';

interface Props {
  readonly link: PeerLinkState;
  /** Why the link is down, shown on hover. */
  readonly lastError?: string | undefined;
}

const LOOKS: Readonly<
  Record<PeerLinkState, { label: string; color: ChipProps['color']; icon: ReactElement }>
> = {
  connected: { label: 'Connected', color: 'success', icon: <CheckCircle /> },
  connecting: { label: 'Connecting…', color: 'info', icon: <HourglassTop /> },
  disconnected: { label: 'Disconnected', color: 'error', icon: <LinkOff /> },
};

/** The state of the mutual-TLS link between two paired sites' agents. */
export function LinkStateChip({ link, lastError }: Props) {
  const look = LOOKS[link];
  const chip = (
    <Chip
      role="status"
      aria-label={`Link ${look.label}`}
      size="small"
      variant="outlined"
      label={look.label}
      color={look.color}
      icon={look.icon}
    />
  );
  if (link === 'connected' || lastError === undefined) return chip;
  return <Tooltip title={lastError}>{chip}</Tooltip>;
}
