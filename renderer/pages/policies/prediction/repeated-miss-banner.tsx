import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import { useMemo } from 'react';
import { repeatedMisses } from '../../../../app/planner';
import type { PlanningVpg } from '../../../../app/protocol/console-planner-api';
import { formatDuration } from '../../../../app/units/duration';
import { suggestedBits, type FramePrediction } from '../../../lib/plan-view';
import { formatRate, formatRpo } from '../../../lib/policy-units';
import { useAlertsStore } from '../../../stores/alerts-store';

interface Props {
  readonly vpgs: readonly PlanningVpg[];
  readonly predictions: readonly FramePrediction[];
  readonly timeZone: string;
  readonly now: number;
  readonly onUse: (frameKey: string, bitsPerSecond: number) => void;
}

/**
 * The same timeframe missed on 2 or more of the last 7 days (the agents' real RPO alerts): the
 * change the planner finds from the measured rates, offered with "Use this".
 */
export function RepeatedMissBanner({ vpgs, predictions, timeZone, now, onUse }: Props) {
  const alerts = useAlertsStore((s) => s.alerts);
  // Days change slowly: recomputed with the alerts, and once a minute.
  const minute = Math.floor(now / 60_000) * 60_000;
  const misses = useMemo(() => {
    const ids = new Set(vpgs.map((v) => v.vpgId));
    const mine = Object.values(alerts).filter((a) => ids.has(a.vpgId));
    return repeatedMisses(mine, minute, timeZone);
  }, [alerts, vpgs, timeZone, minute]);
  if (misses.length === 0) return null;
  return (
    <Stack spacing={1} sx={{ mb: 1.5 }}>
      {misses.map((m) => {
        const part = predictions.find((p) => p.name === m.timeframeName);
        const least = part?.advice?.leastBitsPerSecond;
        const bits = least === undefined ? undefined : suggestedBits(least);
        const current = part?.advice?.currentBitsPerSecond;
        return (
          <Alert
            key={`${m.vpgId}/${m.timeframeName}`}
            severity="warning"
            data-testid="repeated-miss"
            action={
              part !== undefined && bits !== undefined && bits !== current ? (
                <Button color="inherit" size="small" onClick={() => onUse(part.key, bits)}>
                  Use this
                </Button>
              ) : undefined
            }
          >
            {m.vpgName} missed its RPO
            {m.rpoTargetSeconds === undefined ? '' : ` of ${formatRpo(m.rpoTargetSeconds)}`} in “
            {m.timeframeName}” on {m.days.length} of the last 7 days (worst{' '}
            {formatDuration(Math.round(m.worstRpoSeconds))}).{' '}
            {bits !== undefined
              ? `From the measured rates, ${formatRate(bits)} would have held it (now ${formatRate(current)}).`
              : (part?.advice?.reason ?? 'This policy has no timeframe of that name any more.')}
          </Alert>
        );
      })}
    </Stack>
  );
}
