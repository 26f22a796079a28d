import Box from '@mui/material/Box';
import type { ReactNode } from 'react';
import { selectIsReconnecting, useConnectionStore } from '../stores/connection-store';

/** While the console link is down the page shows its last data, dimmed so it reads as stale. */
export function OfflineDimmer({ children }: { readonly children: ReactNode }) {
  const reconnecting = useConnectionStore(selectIsReconnecting);
  return (
    <Box
      aria-busy={reconnecting}
      sx={{ opacity: reconnecting ? 0.55 : 1, transition: 'opacity 200ms' }}
    >
      {children}
    </Box>
  );
}
