import Typography from '@mui/material/Typography';
import { useConnectionStore } from '../stores/connection-store';

/** Bottom of the drawer: which console this is, for support calls. */
export function ConsoleVersion() {
  const info = useConnectionStore((s) => s.info);
  if (info === undefined) return null;
  const shell = info.mode === 'electron' ? 'desktop app' : 'browser mode';
  return (
    <Typography
      variant="caption"
      sx={{ mt: 'auto', px: 3, py: 2, color: 'rgba(255,255,255,0.5)', display: 'block' }}
    >
      Tideline console {info.version} · {shell}
    </Typography>
  );
}
