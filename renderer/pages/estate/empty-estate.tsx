import Add from '@mui/icons-material/Add';
import Hub from '@mui/icons-material/Hub';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import { monoFontFamily } from '../../theme';

interface Props {
  readonly onAdd: () => void;
}

/** No agents yet: say what an agent is and where its token comes from. */
export function EmptyEstate({ onAdd }: Props) {
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
        <Hub sx={{ fontSize: 36 }} />
      </Box>
      <Typography variant="h2" component="h2" gutterBottom>
        No agents yet
      </Typography>
      <Typography color="text.secondary" sx={{ maxWidth: 560, mx: 'auto', mb: 3 }}>
        Tideline sees your sites, hosts and virtual machines through the agent running on each
        hypervisor host. Run{' '}
        <Box component="code" sx={{ fontFamily: monoFontFamily, fontSize: '0.9em' }}>
          tideline-agent init
        </Box>{' '}
        on a host, then add it here with the address and admin token it printed.
      </Typography>
      <Button
        variant="contained"
        color="secondary"
        size="large"
        startIcon={<Add />}
        onClick={onAdd}
      >
        Add agent
      </Button>
    </Paper>
  );
}
