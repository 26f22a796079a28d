import Box from '@mui/material/Box';
import { useTheme, type Palette } from '@mui/material/styles';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useMemo, type ReactNode } from 'react';
import type { CleanPointRange } from '../../../app/recovery/clean-point';
import type { CheckpointInfo } from '../../../app/vpg/vpg-schemas';
import { changeSeries, checkpointText, columnText, type ChangeColumn } from '../../lib/clean-point';
import { formatSize, formatSourceTime } from '../../lib/protection';
import { testedText } from '../../lib/recovery';

interface Props {
  /** The recovery site's checkpoints (they carry the figures and the test marks). */
  readonly checkpoints: readonly CheckpointInfo[];
  /** The part searched; the rest is dimmed. */
  readonly range?: CleanPointRange;
  /** Highlighted: the checkpoint to test next. */
  readonly candidateSeq?: number | undefined;
  /** What the highlight means ("Test next", "Under test"). */
  readonly candidateLabel?: string;
  readonly height?: number;
}

const VIEW_W = 1000;
const VIEW_H = 100;

/**
 * Each checkpoint's writes since the one before, oldest to newest: bytes written as bars, the
 * shares of high-entropy and of turned-high blocks as lines, test verdicts as dots below.
 * Counts as measured at the recovery site; no verdict of its own (the admin judges).
 */
export function ChangeSparkline({
  checkpoints,
  range,
  candidateSeq,
  candidateLabel = 'Test next',
  height = 72,
}: Props) {
  const theme = useTheme();
  const series = useMemo(() => changeSeries(checkpoints), [checkpoints]);
  const n = series.checkpoints.length;
  if (n === 0) {
    return (
      <Typography variant="body2" color="text.secondary">
        No checkpoints at the recovery site yet.
      </Typography>
    );
  }
  const x = (index: number): number => ((index + 0.5) / n) * 100;
  const indexOf = (seq: number | undefined): number =>
    seq === undefined ? -1 : series.checkpoints.findIndex((c) => c.seq === seq);
  const candidate = indexOf(candidateSeq);
  const from = range?.fromSeq === undefined ? 0 : Math.max(0, indexOf(range.fromSeq));
  const toIndex = range?.toSeq === undefined ? n - 1 : indexOf(range.toSeq);
  const to = toIndex < 0 ? n - 1 : toIndex;
  const [lo, hi] = [Math.min(from, to), Math.max(from, to)];
  const marked = series.checkpoints
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.tested !== undefined);
  const first = series.checkpoints[0]!;
  const last = series.checkpoints[n - 1]!;

  return (
    <Box role="group" aria-label="Change per checkpoint" sx={{ pt: 2.5 }}>
      <Box sx={{ position: 'relative', height: height + 22 }}>
        <Box
          sx={{
            position: 'absolute',
            inset: 0,
            bottom: 22,
            borderBottom: 1,
            borderColor: 'divider',
            bgcolor: 'rgba(23,58,99,0.03)',
            borderRadius: '6px 6px 0 0',
          }}
        >
          {series.measured > 0 && <Bars series={series} color={theme.palette} />}
          {(series.measured === 0 || series.maxWrittenBytes === 0) && (
            <Typography
              variant="body2"
              color="text.secondary"
              sx={{ position: 'absolute', inset: 0, display: 'grid', placeItems: 'center' }}
            >
              {series.measured === 0
                ? 'No change figures for these checkpoints'
                : 'Nothing written between these checkpoints'}
            </Typography>
          )}
        </Box>
        {/* Outside the range: dimmed, still shown (the facts are the facts). */}
        {lo > 0 && <Dim left={0} right={100 - (lo / n) * 100} />}
        {hi < n - 1 && <Dim left={((hi + 1) / n) * 100} right={0} />}
        {candidate >= 0 && (
          <Box
            aria-label={`${candidateLabel}: ${checkpointText(series.checkpoints[candidate]!)}`}
            data-seq={series.checkpoints[candidate]!.seq}
            sx={{
              position: 'absolute',
              top: -20,
              bottom: 0,
              left: `${x(candidate)}%`,
              transform: 'translateX(-50%)',
              width: Math.max(6, 100 / n) + 'px',
              minWidth: 6,
              border: 2,
              borderColor: 'primary.main',
              borderRadius: 1,
              bgcolor: 'rgba(23,58,99,0.10)',
              pointerEvents: 'none',
            }}
          >
            <Typography
              variant="caption"
              sx={{
                position: 'absolute',
                top: -2,
                left: candidate / n > 0.8 ? 'auto' : '100%',
                right: candidate / n > 0.8 ? '100%' : 'auto',
                px: 0.75,
                whiteSpace: 'nowrap',
                fontWeight: 700,
                color: 'primary.main',
                lineHeight: '16px',
              }}
            >
              {candidateLabel}
            </Typography>
          </Box>
        )}
        {marked.map(({ c, i }) => {
          const clean = c.tested?.result === 'Passed';
          return (
            <Tooltip key={c.seq} title={`${checkpointText(c)} · ${testedText(c) ?? ''}`} arrow>
              <Box
                role="img"
                aria-label={`${clean ? 'Marked clean' : 'Marked not clean'}: ${checkpointText(c)}`}
                sx={{
                  position: 'absolute',
                  bottom: 4,
                  left: `${x(i)}%`,
                  transform: 'translateX(-50%)',
                  width: 12,
                  height: 12,
                  borderRadius: '50%',
                  border: '2px solid #fff',
                  boxShadow: '0 0 0 1px rgba(0,0,0,0.15)',
                  bgcolor: clean ? 'success.main' : 'error.main',
                  zIndex: 1,
                }}
              />
            </Tooltip>
          );
        })}
      </Box>
      <Box sx={{ display: 'flex', justifyContent: 'space-between', mt: 0.5, gap: 2 }}>
        <Typography variant="caption" color="text.secondary">
          {formatSourceTime(first.sourceTime)}
        </Typography>
        <Typography variant="caption" color="text.secondary">
          {n} checkpoints
          {series.measured > 0 &&
            series.measured < n &&
            ` · ${n - series.measured} without change figures`}
          {series.perColumn > 1 && ` · ${series.perColumn} per bar`}
        </Typography>
        <Typography variant="caption" color="text.secondary">
          {formatSourceTime(last.sourceTime)}
        </Typography>
      </Box>
      <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 2, rowGap: 0.5, mt: 0.5 }}>
        {series.measured > 0 && (
          <>
            <Legend swatch={<Swatch color="#9cc3e6" />}>
              Written (most {formatSize(series.maxWrittenBytes)} per checkpoint)
            </Legend>
            <Legend swatch={<Line color={theme.palette.warning.main} />}>
              High-entropy share of written blocks (0–100 %)
            </Legend>
            <Legend swatch={<Line color={theme.palette.error.main} dashed />}>
              Turned-high share (were low before)
            </Legend>
          </>
        )}
        <Legend swatch={<Dot color={theme.palette.success.main} />}>Tested clean</Legend>
        <Legend swatch={<Dot color={theme.palette.error.main} />}>Tested not clean</Legend>
        {candidateSeq !== undefined && (
          <Legend swatch={<Swatch color="rgba(23,58,99,0.10)" border />}>{candidateLabel}</Legend>
        )}
      </Box>
    </Box>
  );
}

/** The bars and lines, stretched to the box (lines keep their width). */
function Bars({ series, color }: { series: ReturnType<typeof changeSeries>; color: Palette }) {
  const n = series.checkpoints.length;
  const max = Math.max(1, series.maxWrittenBytes);
  let start = 0;
  const placed = series.columns.map((c) => {
    const at = { c, x0: (start / n) * VIEW_W, w: (c.count / n) * VIEW_W };
    start += c.count;
    return at;
  });
  // Steps, not slopes: each figure covers its column's interval between checkpoints. Broken
  // where a column has no figures: no line is drawn through what was not measured.
  const line = (share: (c: ChangeColumn) => number | undefined): string[] => {
    const runs: string[] = [];
    let run: string[] = [];
    for (const { c, x0, w } of placed) {
      const s = share(c);
      if (s === undefined) {
        if (run.length > 0) runs.push(run.join(' '));
        run = [];
        continue;
      }
      const y = VIEW_H - 6 - s * (VIEW_H - 16);
      run.push(`${x0},${y}`, `${x0 + w},${y}`);
    }
    if (run.length > 0) runs.push(run.join(' '));
    return runs;
  };
  return (
    <svg
      viewBox={`0 0 ${VIEW_W} ${VIEW_H}`}
      preserveAspectRatio="none"
      width="100%"
      height="100%"
      style={{ position: 'absolute', inset: 0, display: 'block' }}
    >
      {placed.map(({ c, x0, w }) => (
        <g key={c.first.seq}>
          <rect
            x={x0 + w * 0.15}
            width={Math.max(w * 0.7, 1)}
            y={VIEW_H - (c.writtenBytes / max) * (VIEW_H - 6)}
            height={(c.writtenBytes / max) * (VIEW_H - 6)}
            fill={c.partial ? '#c8d9ea' : '#9cc3e6'}
          />
          <rect x={x0} width={w} y={0} height={VIEW_H} fill="transparent">
            <title>{columnText(c)}</title>
          </rect>
        </g>
      ))}
      {line((c) => c.highShare).map((points) => (
        <ShareLine key={`h${points}`} points={points} color={color.warning.main} />
      ))}
      {line((c) => c.turnedShare).map((points) => (
        <ShareLine key={`t${points}`} points={points} color={color.error.main} dashed />
      ))}
    </svg>
  );
}

function ShareLine({ points, color, dashed }: { points: string; color: string; dashed?: boolean }) {
  return (
    <polyline
      points={points}
      fill="none"
      stroke={color}
      strokeWidth={2}
      strokeDasharray={dashed === true ? '4 3' : undefined}
      vectorEffect="non-scaling-stroke"
      pointerEvents="none"
    />
  );
}

function Dim({ left, right }: { left: number; right: number }) {
  return (
    <Box
      aria-hidden
      sx={{
        position: 'absolute',
        top: 0,
        bottom: 0,
        left: `${left}%`,
        right: `${right}%`,
        bgcolor: 'rgba(255,255,255,0.72)',
        backgroundImage:
          'repeating-linear-gradient(135deg, rgba(82,99,122,0.10) 0 2px, transparent 2px 8px)',
        pointerEvents: 'none',
      }}
    />
  );
}

function Legend({ swatch, children }: { swatch: ReactNode; children: ReactNode }) {
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', gap: 0.75 }}>
      {swatch}
      <Typography variant="caption" color="text.secondary">
        {children}
      </Typography>
    </Box>
  );
}

function Swatch({ color, border }: { color: string; border?: boolean }) {
  return (
    <Box
      sx={{
        width: 12,
        height: 10,
        borderRadius: 0.5,
        bgcolor: color,
        ...(border === true && { border: 2, borderColor: 'primary.main' }),
      }}
    />
  );
}

function Line({ color, dashed }: { color: string; dashed?: boolean }) {
  return (
    <Box sx={{ width: 16, borderTop: `2px ${dashed === true ? 'dashed' : 'solid'} ${color}` }} />
  );
}

function Dot({ color }: { color: string }) {
  return <Box sx={{ width: 10, height: 10, borderRadius: '50%', bgcolor: color }} />;
}
