import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { formatDuration } from '../../../lib/protection';
import type { RpoPoint } from '../../../stores/protection-store';

interface Props {
  readonly points: readonly RpoPoint[];
  readonly targetSeconds: number;
}

const W = 360;
const H = 96;
const PAD = 4;
/** The line spans at least this many seconds, so a few first ticks do not fill the width. */
const MIN_SPAN = 30;

/** The RPO of the last ticks (up to two minutes) as a line, with the target dashed across. */
export function RpoTrend({ points, targetSeconds }: Props) {
  const known = points.flatMap((p) => (p.rpoSeconds === undefined ? [] : [p.rpoSeconds]));
  const max = Math.max(targetSeconds * 1.25, ...known);
  const y = (v: number): number => PAD + (H - 2 * PAD) * (1 - v / max);
  const span = Math.max(MIN_SPAN, points.length);
  const x = (i: number): number => PAD + ((W - 2 * PAD) * i) / (span - 1);
  const offset = span - points.length;
  const line = points
    .flatMap((p, i) =>
      p.rpoSeconds === undefined
        ? []
        : [`${x(i + offset).toFixed(1)},${y(p.rpoSeconds).toFixed(1)}`],
    )
    .join(' ');
  const targetTop = `${((y(targetSeconds) / H) * 100).toFixed(1)}%`;
  return (
    <Box>
      <Typography variant="overline" color="text.secondary">
        RPO, last {formatDuration(Math.max(points.length, 1))}
      </Typography>
      <Box sx={{ position: 'relative' }}>
        <Box
          component="svg"
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`RPO trend over the last ${points.length} seconds`}
          sx={{ display: 'block', width: '100%', height: H, bgcolor: '#f7f9fc', borderRadius: 1.5 }}
        >
          <line
            x1={PAD}
            x2={W - PAD}
            y1={y(targetSeconds)}
            y2={y(targetSeconds)}
            stroke="#c62f2f"
            strokeOpacity={0.55}
            strokeDasharray="4 4"
            vectorEffect="non-scaling-stroke"
          />
          {line !== '' && (
            <polyline
              points={line}
              fill="none"
              stroke="#0f8b8d"
              strokeWidth={2}
              strokeLinejoin="round"
              vectorEffect="non-scaling-stroke"
            />
          )}
        </Box>
        <Typography
          variant="caption"
          aria-hidden
          sx={{
            position: 'absolute',
            right: 6,
            top: targetTop,
            transform: 'translateY(-115%)',
            color: 'error.main',
            opacity: 0.8,
            lineHeight: 1,
          }}
        >
          target {formatDuration(targetSeconds)}
        </Typography>
        <Typography
          variant="caption"
          aria-hidden
          sx={{ position: 'absolute', left: 6, bottom: 2, color: 'text.secondary', lineHeight: 1 }}
        >
          0 s
        </Typography>
      </Box>
    </Box>
  );
}
