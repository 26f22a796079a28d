import FiberManualRecord from '@mui/icons-material/FiberManualRecord';
import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { formatCountdown } from '../lib/format';
import { useNow } from '../lib/use-now';
import { useConnectionStore } from '../stores/connection-store';

/** The console link's state, in the top bar. */
export function ConnectionStatus() {
  const status = useConnectionStore((s) => s.status);
  const now = useNow(status.state === 'lost');
  const { label, color } = describe(status.state, status.nextRetryAt, now);
  return (
    <Box
      role="status"
      aria-label="Console connection"
      sx={{
        display: 'flex',
        alignItems: 'center',
        gap: 0.75,
        px: 1.5,
        py: 0.5,
        borderRadius: 999,
        bgcolor: 'rgba(255,255,255,0.08)',
        border: '1px solid rgba(255,255,255,0.16)',
      }}
    >
      <FiberManualRecord sx={{ fontSize: 12, color }} />
      <Typography variant="body2" sx={{ color: 'common.white', fontWeight: 500 }}>
        {label}
      </Typography>
    </Box>
  );
}

function describe(
  state: 'connecting' | 'open' | 'lost',
  nextRetryAt: number | undefined,
  now: number,
) {
  switch (state) {
    case 'open':
      return { label: 'Console connected', color: '#39d98a' };
    case 'connecting':
      return { label: 'Connecting to console…', color: '#ffc857' };
    case 'lost':
      return {
        label: nextRetryAt
          ? `Reconnecting in ${formatCountdown(nextRetryAt, now)}`
          : 'Reconnecting…',
        color: '#ff6b6b',
      };
  }
}
