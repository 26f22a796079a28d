import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { NEAR_SHARE, formatDuration, rpoLevel, rpoText, type RpoLevel } from '../../lib/protection';

export const RPO_COLORS: Readonly<Record<RpoLevel, string>> = {
  ok: '#1e8e4e',
  near: '#c77700',
  over: '#c62f2f',
  unknown: '#9aa8b8',
};

interface Props {
  readonly rpoSeconds: number | undefined;
  readonly targetSeconds: number;
  /** Names the meter for assistive technology, e.g. "RPO of Finance". */
  readonly label: string;
  readonly size?: 'small' | 'large';
  /** false: the figures are the last known ones, not live. */
  readonly live?: boolean;
}

const STROKE = { small: 10, large: 16 } as const;
const WIDTH = { small: 118, large: 232 } as const;

/**
 * A semicircle from 0 to twice the target: green up to 80 % of the target, amber to the
 * target (the tick at the top), red past it. The arc fills to the current RPO in its colour.
 */
export function RpoGauge({ rpoSeconds, targetSeconds, label, size = 'small', live = true }: Props) {
  const width = WIDTH[size];
  const stroke = STROKE[size];
  const r = width / 2 - stroke / 2 - 1;
  const cx = width / 2;
  const cy = width / 2;
  const height = cy + stroke / 2 + 1;
  const max = targetSeconds * 2;
  const level = rpoLevel(rpoSeconds, targetSeconds);
  const fraction = rpoSeconds === undefined ? 0 : Math.min(1, rpoSeconds / max);
  const point = (f: number): [number, number] => {
    const angle = Math.PI * (1 - f);
    return [cx + r * Math.cos(angle), cy - r * Math.sin(angle)];
  };
  const arc = (from: number, to: number): string => {
    const [x0, y0] = point(from);
    const [x1, y1] = point(to);
    return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 0 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
  };
  const [tx0, ty0] = point(0.5);
  const text = rpoText(rpoSeconds, targetSeconds);
  const color = live ? RPO_COLORS[level] : RPO_COLORS.unknown;
  const zone = NEAR_SHARE / 2;

  return (
    <Box
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      {...(rpoSeconds === undefined ? {} : { 'aria-valuenow': Math.round(rpoSeconds * 10) / 10 })}
      aria-valuetext={live ? text : `${text} (not live)`}
      data-level={level}
      sx={{
        display: 'inline-flex',
        flexDirection: 'column',
        alignItems: 'center',
        minWidth: width,
      }}
    >
      <Box sx={{ position: 'relative', width, height }}>
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden>
          <path d={arc(0, 1)} stroke="#e6ebf1" strokeWidth={stroke} fill="none" />
          <path d={arc(0, zone)} stroke="rgba(30,142,78,0.24)" strokeWidth={stroke} fill="none" />
          <path d={arc(zone, 0.5)} stroke="rgba(199,119,0,0.30)" strokeWidth={stroke} fill="none" />
          <path d={arc(0.5, 1)} stroke="rgba(198,47,47,0.22)" strokeWidth={stroke} fill="none" />
          {fraction > 0.002 && (
            <path
              d={arc(0, fraction)}
              stroke={color}
              strokeWidth={stroke}
              strokeLinecap="round"
              fill="none"
              style={{ transition: 'd 600ms ease-out' }}
            />
          )}
          <line
            x1={tx0}
            y1={ty0 - stroke / 2 - 3}
            x2={tx0}
            y2={ty0 + stroke / 2 + 3}
            stroke="#14243a"
            strokeWidth={2}
          />
        </svg>
        <Typography
          component="span"
          aria-hidden
          sx={{
            position: 'absolute',
            left: 0,
            right: 0,
            bottom: 0,
            textAlign: 'center',
            fontWeight: 700,
            lineHeight: 1.1,
            fontSize: size === 'large' ? '1.9rem' : '1.05rem',
            color: rpoSeconds === undefined ? 'text.secondary' : color,
            fontVariantNumeric: 'tabular-nums',
          }}
        >
          {rpoSeconds === undefined ? '—' : formatDuration(rpoSeconds)}
        </Typography>
      </Box>
      <Typography
        variant={size === 'large' ? 'body2' : 'caption'}
        color="text.secondary"
        aria-hidden
        sx={{ mt: 0.5, whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' }}
      >
        {text}
      </Typography>
    </Box>
  );
}
