import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { formatDuration } from '../../../../app/units/duration';
import {
  VERDICT_COLOURS,
  VERDICT_LABELS,
  suggestedBits,
  type FramePrediction,
} from '../../../lib/plan-view';
import { formatRate, formatRpo } from '../../../lib/policy-units';

interface Props {
  readonly predictions: readonly FramePrediction[];
  /** Sets the replication bandwidth of a timeframe (frame key) in the draft. */
  readonly onUse: (frameKey: string, bitsPerSecond: number) => void;
  /** A draft edit is being planned: the figures are of the previous one. */
  readonly stale: boolean;
}

/**
 * One card per part of the drafted policy: the predicted worst RPO against its target
 * (before → after the draft), the alerts it would raise, and the least bandwidth that holds
 * the target, with "Use this".
 */
export function TimeframeCards({ predictions, onUse, stale }: Props) {
  return (
    <Box
      sx={{
        display: 'grid',
        gap: 1.5,
        gridTemplateColumns: 'repeat(auto-fill, minmax(300px, 1fr))',
        opacity: stale ? 0.6 : 1,
      }}
    >
      {predictions.map((p) => (
        <FrameCard key={p.key} prediction={p} onUse={onUse} />
      ))}
    </Box>
  );
}

function FrameCard({
  prediction: p,
  onUse,
}: {
  prediction: FramePrediction;
  onUse: Props['onUse'];
}) {
  const colour = VERDICT_COLOURS[p.verdict];
  const least = p.advice?.leastBitsPerSecond;
  const suggested = least === undefined ? undefined : suggestedBits(least);
  const current = p.advice?.currentBitsPerSecond;
  const changed =
    p.before !== undefined &&
    Math.round(p.before.worstRpoSeconds) !== Math.round(p.worstRpoSeconds);
  return (
    <Paper
      variant="outlined"
      data-testid="timeframe-prediction"
      data-verdict={p.verdict}
      aria-label={`Prediction for ${p.name}`}
      sx={{ p: 1.5, borderLeft: `6px solid ${colour}` }}
    >
      <Stack direction="row" sx={{ alignItems: 'baseline', gap: 1 }}>
        <Typography variant="subtitle2" sx={{ flexGrow: 1 }}>
          {p.name}
        </Typography>
        <Typography variant="caption" sx={{ color: colour, fontWeight: 600 }}>
          {VERDICT_LABELS[p.verdict]}
        </Typography>
      </Stack>
      <Typography variant="body2">
        Worst RPO {formatDuration(Math.round(p.worstRpoSeconds))} (95%:{' '}
        {formatDuration(Math.round(p.p95RpoSeconds))}) for a target of{' '}
        {formatRpo(p.rpoTargetSeconds)}
      </Typography>
      {changed && p.before !== undefined && (
        <Typography variant="body2" color="text.secondary" data-testid="before-after">
          At these times now: worst {formatDuration(Math.round(p.before.worstRpoSeconds))} → with
          the draft: {formatDuration(Math.round(p.worstRpoSeconds))}
        </Typography>
      )}
      {p.alerts > 0 && (
        <Typography variant="body2" sx={{ color: VERDICT_COLOURS.missed }}>
          Would raise {p.alerts} RPO {p.alerts === 1 ? 'alert' : 'alerts'} a week
        </Typography>
      )}
      {p.advice?.unreachableSteps !== undefined && (
        <Typography variant="body2" color="text.secondary">
          {p.advice.unreachableSteps} min of it stay above target at any bandwidth: a backlog the
          timeframe before it leaves, or a VPG’s own limit.
        </Typography>
      )}
      {p.advice?.reason !== undefined && (
        <Typography variant="body2" color="text.secondary">
          {p.advice.reason}
        </Typography>
      )}
      {suggested !== undefined && (
        <Stack direction="row" sx={{ alignItems: 'center', gap: 1, mt: 0.5 }}>
          <Typography variant="body2" sx={{ flexGrow: 1 }} data-testid="least-bandwidth">
            {current === undefined
              ? `${formatRate(suggested)} is enough for RPO ${formatRpo(p.rpoTargetSeconds)} (unlimited now)`
              : `Needs at least ${formatRate(suggested)} for RPO ${formatRpo(p.rpoTargetSeconds)} (now ${formatRate(current)})`}
          </Typography>
          {suggested !== current && (
            <Button
              size="small"
              variant="outlined"
              onClick={() => onUse(p.key, suggested)}
              aria-label={`Use ${formatRate(suggested)} for ${p.name}`}
              sx={{ whiteSpace: 'nowrap', flexShrink: 0 }}
            >
              Use this
            </Button>
          )}
        </Stack>
      )}
    </Paper>
  );
}
