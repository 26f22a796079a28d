import Box from '@mui/material/Box';
import { LineChart } from '@mui/x-charts/LineChart';
import { useMemo } from 'react';
import type { Plan } from '../../../../app/planner';
import { toLocal } from '../../../../app/policy/wall-clock';
import { chartSeries } from '../../../lib/plan-view';

const PALETTE = ['#0f8b8d', '#5e35b1', '#1e88e5', '#6d4c41', '#00897b', '#3949ab'];
const DAY_FORMAT = new Intl.DateTimeFormat(undefined, { weekday: 'short', timeZone: 'UTC' });
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
  timeZone: 'UTC',
});

interface Props {
  readonly plan: Plan;
  /** The site's zone: times are shown on its wall clock. */
  readonly timeZone: string;
}

/**
 * The week: predicted RPO per VPG (worst of each 15 minutes), the target in force as a
 * stepped line, and the largest backlog on a second axis.
 */
export function PredictionChart({ plan, timeZone }: Props) {
  const series = useMemo(() => chartSeries(plan), [plan]);
  // The wall clock as UTC, formatted in UTC: Intl's zone handling stays out of the axis.
  const times = useMemo(() => series.times.map((t) => toLocal(timeZone, t)), [series, timeZone]);
  const rpoMax = Math.max(
    1,
    ...series.targetMinutes.filter(Number.isFinite),
    ...series.rpoMinutes.flatMap((s) => s.data),
  );
  return (
    <Box data-testid="prediction-chart" sx={{ height: 300 }}>
      <LineChart
        height={300}
        skipAnimation
        margin={{ left: 8, right: 8, top: 16, bottom: 8 }}
        xAxis={[
          {
            data: times,
            scaleType: 'time',
            min: times[0],
            max: times.at(-1),
            tickNumber: 7,
            valueFormatter: (t: number, context: { location: string }) =>
              (context.location === 'tick' ? DAY_FORMAT : TIME_FORMAT).format(t),
          },
        ]}
        yAxis={[
          { id: 'rpo', min: 0, max: rpoMax * 1.1, label: 'RPO (min)', width: 56 },
          {
            id: 'backlog',
            min: 0,
            // Nothing waiting all week: a flat line at the bottom, not an axis of zeros.
            max: Math.max(1, ...series.backlogGB) * 1.1,
            position: 'right',
            label: 'Backlog (GB)',
            width: 56,
            valueFormatter: (v: number) => String(Number(v.toFixed(1))),
          },
        ]}
        series={[
          ...series.rpoMinutes.map((s, i) => ({
            id: `rpo-${s.id}`,
            data: s.data,
            label: `RPO ${s.name}`,
            yAxisId: 'rpo',
            showMark: false,
            color: PALETTE[i % PALETTE.length] as string,
            valueFormatter: (v: number | null) => (v === null ? '' : `${v.toFixed(1)} min`),
          })),
          {
            id: 'target',
            data: series.targetMinutes.map((v) => (Number.isFinite(v) ? v : null)),
            label: 'RPO target',
            yAxisId: 'rpo',
            showMark: false,
            curve: 'stepAfter' as const,
            color: '#c62f2f',
            valueFormatter: (v: number | null) => (v === null ? '' : `${v} min`),
          },
          {
            id: 'backlog',
            data: series.backlogGB,
            label: 'Backlog',
            yAxisId: 'backlog',
            showMark: false,
            area: true,
            color: '#90a4ae',
            valueFormatter: (v: number | null) => (v === null ? '' : `${v.toFixed(2)} GB`),
          },
        ]}
      />
    </Box>
  );
}
