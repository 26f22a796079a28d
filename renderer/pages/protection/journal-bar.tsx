import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import Typography from '@mui/material/Typography';
import { formatSize, journalUse, type JournalLevel } from '../../lib/protection';

interface Props {
  readonly journalBytes: number;
  readonly hardLimitBytes: number;
  readonly warningBytes: number;
  readonly width?: number | string;
}

const COLOR: Readonly<Record<JournalLevel, 'secondary' | 'warning' | 'error'>> = {
  ok: 'secondary',
  warning: 'warning',
  full: 'error',
};

/** Journal use against its hard limit; amber past the warning threshold, red when full. */
export function JournalBar({ journalBytes, hardLimitBytes, warningBytes, width = 150 }: Props) {
  const { percent, level } = journalUse(journalBytes, hardLimitBytes, warningBytes);
  const text = `${formatSize(journalBytes)} of ${formatSize(hardLimitBytes)}`;
  return (
    <Box sx={{ width }}>
      <LinearProgress
        variant="determinate"
        value={percent}
        color={COLOR[level]}
        aria-label="Journal use"
        aria-valuetext={text}
        sx={{ height: 8, borderRadius: 4, bgcolor: '#e6ebf1' }}
      />
      <Typography
        variant="caption"
        color={level === 'ok' ? 'text.secondary' : `${COLOR[level]}.main`}
        sx={{ display: 'block', mt: 0.5, whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' }}
      >
        {text}
      </Typography>
    </Box>
  );
}
