import type { ReactNode } from 'react';
import CheckCircle from '@mui/icons-material/CheckCircle';
import ErrorOutline from '@mui/icons-material/ErrorOutlineOutlined';
import WarningAmber from '@mui/icons-material/WarningAmber';
import CircularProgress from '@mui/material/CircularProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import type { Followed } from '../../../stores/checkpoint-store';

interface Props {
  readonly checkpoint: CheckpointInfo;
  readonly followed: Followed | undefined;
}

/** Confirmed at the recovery site ✓, pending (spinner), inconsistent, or not confirmed (failed). */
export function CheckpointStatus({ checkpoint, followed }: Props) {
  if (checkpoint.inconsistent === true) {
    return (
      <Line icon={<WarningAmber fontSize="small" color="warning" />} color="warning.main">
        Inconsistent
      </Line>
    );
  }
  if (checkpoint.confirmed || followed?.state === 'confirmed') {
    return (
      <Line icon={<CheckCircle fontSize="small" color="success" />} color="success.main">
        Confirmed
      </Line>
    );
  }
  if (followed?.state === 'failed') {
    return (
      <Line icon={<ErrorOutline fontSize="small" color="error" />} color="error.main">
        Not confirmed
      </Line>
    );
  }
  return (
    <Line
      icon={<CircularProgress size={14} aria-label="Waiting for the recovery site" />}
      color="text.secondary"
    >
      Pending
    </Line>
  );
}

function Line({ icon, color, children }: { icon: ReactNode; color: string; children: string }) {
  return (
    <Stack direction="row" spacing={0.75} sx={{ alignItems: 'center' }}>
      {icon}
      <Typography variant="body2" sx={{ color, fontWeight: 600 }}>
        {children}
      </Typography>
    </Stack>
  );
}
