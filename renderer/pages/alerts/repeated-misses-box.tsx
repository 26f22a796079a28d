import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useMemo } from 'react';
import { repeatedMisses } from '../../../app/planner';
import { formatDuration } from '../../../app/units/duration';
import { formatRpo } from '../../lib/policy-units';
import { useNow } from '../../lib/use-now';
import { adminTimeZone } from '../../stores/policies-store';
import type { AlertMap } from './alert-list';

interface Props {
  readonly alerts: AlertMap;
  /** Opens the Policies page on the link the VPG replicates over, where the planner suggests. */
  readonly onPlan: (vpgId: string) => void;
}

/** RPO targets missed in the same timeframe on 2 or more of the last 7 days. */
export function RepeatedMissesBox({ alerts, onPlan }: Props) {
  const now = useNow(true);
  const minute = Math.floor(now / 60_000) * 60_000;
  const misses = useMemo(
    () =>
      // The days in the admin's zone: the Alerts page has no site policy to take one from.
      repeatedMisses(Object.values(alerts), minute, adminTimeZone()),
    [alerts, minute],
  );
  if (misses.length === 0) return null;
  return (
    <Alert severity="warning" data-testid="repeated-misses">
      <AlertTitle>The same timeframe keeps missing its RPO</AlertTitle>
      <Stack spacing={0.5}>
        {misses.map((m) => (
          <Stack
            key={`${m.vpgId}/${m.timeframeName}`}
            direction="row"
            sx={{ alignItems: 'center', gap: 1 }}
          >
            <Typography variant="body2" sx={{ flexGrow: 1 }}>
              {m.vpgName}: “{m.timeframeName}” missed
              {m.rpoTargetSeconds === undefined
                ? ''
                : ` its ${formatRpo(m.rpoTargetSeconds)} target`}{' '}
              on {m.days.length} of the last 7 days (worst{' '}
              {formatDuration(Math.round(m.worstRpoSeconds))}).
            </Typography>
            <Button size="small" color="inherit" variant="outlined" onClick={() => onPlan(m.vpgId)}>
              See what would prevent it
            </Button>
          </Stack>
        ))}
      </Stack>
    </Alert>
  );
}
