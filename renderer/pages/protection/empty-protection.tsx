import Shield from '@mui/icons-material/Shield';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import { NewVpgButton } from './new-vpg-button';

interface Props {
  readonly blocker: string | undefined;
}

/** No VPGs yet: what a VPG is, and what it takes to create one. */
export function EmptyProtection({ blocker }: Props) {
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
        }}
      >
        <Shield sx={{ fontSize: 36 }} />
      </Box>
      <Typography variant="h2" component="h2" gutterBottom>
        No VPGs yet
      </Typography>
      <Typography color="text.secondary" sx={{ maxWidth: 600, mx: 'auto', mb: 3 }}>
        A virtual protection group replicates a set of VMs from their protected site to a paired
        recovery site, with one write order across all their disks, so every checkpoint brings them
        back together and consistent.
      </Typography>
      <NewVpgButton blocker={blocker} size="large" />
      {blocker !== undefined && (
        <Typography variant="body2" color="text.secondary" sx={{ mt: 2 }}>
          {blocker}
        </Typography>
      )}
    </Paper>
  );
}
