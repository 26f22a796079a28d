import Add from '@mui/icons-material/Add';
import Hub from '@mui/icons-material/Hub';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Typography from '@mui/material/Typography';
import { monoFontFamily } from '../../theme';
import { EmptyState } from '../../components/empty-state';

interface Props {
  readonly onAdd: () => void;
}

/** No agents yet: say what an agent is and where its token comes from. */
export function EmptyEstate({ onAdd }: Props) {
  return (
    <EmptyState icon={<Hub />} title="No agents yet">
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
    </EmptyState>
  );
}
