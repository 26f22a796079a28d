import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';

/** The row of figures at the top of a page, as a description list. */
export function SummaryTiles({ children }: { children: ReactNode }) {
  return (
    <Box
      component="dl"
      sx={{
        m: 0,
        display: 'grid',
        gap: 2,
        gridTemplateColumns: { xs: '1fr 1fr', lg: 'repeat(4, 1fr)' },
      }}
    >
      {children}
    </Box>
  );
}

interface TileProps {
  readonly icon: ReactNode;
  readonly label: string;
  readonly value: string;
  /** Tints the tile when the figure needs the admin's attention. */
  readonly warn?: boolean;
}

export function SummaryTile({ icon, label, value, warn = false }: TileProps) {
  return (
    <Paper
      variant="outlined"
      sx={{ p: 2, borderRadius: 3, display: 'flex', alignItems: 'center', gap: 2 }}
    >
      <Box
        aria-hidden
        sx={{
          width: 40,
          height: 40,
          borderRadius: 2,
          display: 'grid',
          placeItems: 'center',
          bgcolor: warn ? 'rgba(199,119,0,0.14)' : 'rgba(15,139,141,0.12)',
          color: warn ? 'warning.main' : 'secondary.main',
        }}
      >
        {icon}
      </Box>
      <Box>
        <Typography component="dt" variant="body2" color="text.secondary">
          {label}
        </Typography>
        <Typography component="dd" variant="h2" sx={{ m: 0, fontVariantNumeric: 'tabular-nums' }}>
          {value}
        </Typography>
      </Box>
    </Paper>
  );
}
