import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import { LineChart } from '@mui/x-charts/LineChart';
import { ChartsReferenceLine } from '@mui/x-charts/ChartsReferenceLine';
import { useEffect, useMemo, useState } from 'react';
import type { MetricsHistory } from '../../../../app/metrics/metrics-schemas';
import type { ErrorView, VpgView } from '../../../../app/protocol/console-api';
import { consoleConnection } from '../../../api';
import { attempt } from '../../../lib/errors';
import { formatDuration } from '../../../lib/protection';
import {
  HISTORY_RANGES,
  historyQuery,
  isolated,
  rpoSeries,
  type HistoryRange,
} from '../../../lib/rpo-history';

type Loaded = { history: MetricsHistory } | { error: ErrorView } | undefined;

/** Fetches the VPG's history for a span now and then (from its protected site's agent). */
function useRpoHistory(vpg: VpgView, range: HistoryRange): Loaded {
  const [loaded, setLoaded] = useState<Loaded>(undefined);
  const { protectedSiteId: siteId, vpgId, protectedSiteOffline } = vpg;
  useEffect(() => {
    setLoaded(undefined);
    if (protectedSiteOffline) return undefined;
    let live = true;
    const load = async (): Promise<void> => {
      const outcome = await attempt(() =>
        consoleConnection().api.protection.history({
          siteId,
          vpgId,
          ...historyQuery(range, Date.now()),
        }),
      );
      if (!live) return;
      setLoaded(outcome.ok ? { history: outcome.value } : { error: outcome.error });
    };
    void load();
    const every = HISTORY_RANGES.find((r) => r.value === range)?.refreshMs ?? 60_000;
    const timer = setInterval(() => void load(), every);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [siteId, vpgId, protectedSiteOffline, range]);
  return loaded;
}

/** Axis ticks short (no date within a day), the tooltip with the date (and seconds). */
function timeText(range: HistoryRange, t: number, tick: boolean): string {
  return new Date(t).toLocaleString(undefined, {
    ...((!tick || range === 'week') && { weekday: 'short' }),
    ...(!tick && { day: 'numeric', month: 'short' }),
    hour: '2-digit',
    minute: '2-digit',
    ...(!tick && range === 'hour' && { second: '2-digit' }),
  });
}

/** The VPG's RPO over the last hour, day or week (metrics.history), with its target. */
export function RpoHistoryCard({ vpg }: { vpg: VpgView }) {
  const [range, setRange] = useState<HistoryRange>('hour');
  const loaded = useRpoHistory(vpg, range);
  const history = loaded !== undefined && 'history' in loaded ? loaded.history : undefined;
  const series = useMemo(() => (history ? rpoSeries(history) : undefined), [history]);
  const target = vpg.rpoTargetSeconds;

  return (
    <Paper
      component="section"
      aria-label="RPO history"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Stack direction="row" sx={{ alignItems: 'center', mb: 1, gap: 2, flexWrap: 'wrap' }}>
        <Typography variant="h2" sx={{ flexGrow: 1 }}>
          RPO history
        </Typography>
        {series?.worst !== undefined && (
          <Typography variant="caption" color="text.secondary">
            worst {formatDuration(Math.round(series.worst))}
            {series.metShare !== undefined &&
              ` · target met ${Math.floor(series.metShare * 1000) / 10}% of the time`}
          </Typography>
        )}
        <ToggleButtonGroup
          size="small"
          exclusive
          value={range}
          aria-label="Span"
          onChange={(_, value: HistoryRange | null) => value !== null && setRange(value)}
        >
          {HISTORY_RANGES.map((r) => (
            <ToggleButton key={r.value} value={r.value}>
              {r.label}
            </ToggleButton>
          ))}
        </ToggleButtonGroup>
      </Stack>
      {vpg.protectedSiteOffline ? (
        <Alert severity="info">
          The history is kept by the protected site’s agent, which is not connected.
        </Alert>
      ) : loaded !== undefined && 'error' in loaded ? (
        <Alert severity="warning">{loaded.error.message}</Alert>
      ) : (
        <Box sx={{ height: 220 }} aria-busy={series === undefined}>
          {series !== undefined && (
            <LineChart
              height={220}
              skipAnimation
              hideLegend
              margin={{ left: 8, right: 16, top: 16, bottom: 8 }}
              xAxis={[
                {
                  data: series.times,
                  scaleType: 'time',
                  min: series.times[0],
                  max: series.times.at(-1),
                  valueFormatter: (t: number, context: { location: string }) =>
                    timeText(range, t, context.location === 'tick'),
                },
              ]}
              yAxis={[
                {
                  min: 0,
                  max: Math.max(target * 1.25, series.worst ?? 0),
                  valueFormatter: (v: number) => `${v} s`,
                },
              ]}
              series={[
                {
                  data: series.rpo,
                  label: 'RPO',
                  color: '#0f8b8d',
                  // A lone point (between gaps) has no line to draw: it gets a mark instead.
                  showMark: ({ index }) => isolated(series.rpo, index),
                  connectNulls: false,
                  valueFormatter: (v) => (v === null ? 'not known' : formatDuration(Math.round(v))),
                },
              ]}
            >
              <ChartsReferenceLine
                y={target}
                label={`target ${formatDuration(target)}`}
                labelAlign="end"
                lineStyle={{ stroke: '#c62f2f', strokeDasharray: '4 4', strokeOpacity: 0.6 }}
              />
            </LineChart>
          )}
        </Box>
      )}
    </Paper>
  );
}
