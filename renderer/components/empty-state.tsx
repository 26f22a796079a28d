import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';

interface Props {
  /** An icon element; shown large in a tinted circle. */
  readonly icon: ReactNode;
  readonly title: string;
  /** What the thing is and what to do: text, then the call to action. */
  readonly children: ReactNode;
}

/** A page with nothing to show yet: explain, and offer the first step. */
export function EmptyState({ icon, title, children }: Props) {
  return (
    <Paper
      variant="outlined"
      sx={{ p: { xs: 4, md: 8 }, borderRadius: 3, textAlign: 'center', borderStyle: 'dashed' }}
    >
      <Box
        aria-hidden
        sx={{
          width: 72,
          height: 72,
          mx: 'auto',
          mb: 3,
          borderRadius: '50%',
          display: 'grid',
          placeItems: 'center',
          bgcolor: 'rgba(15,139,141,0.12)',
          color: 'secondary.main',
          '& svg': { fontSize: 36 },
        }}
      >
        {icon}
      </Box>
      <Typography variant="h2" component="h2" gutterBottom>
        {title}
      </Typography>
      {children}
    </Paper>
  );
}
