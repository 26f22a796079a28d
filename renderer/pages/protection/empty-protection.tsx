import Shield from '@mui/icons-material/Shield';
import Typography from '@mui/material/Typography';
import { NewVpgButton } from './new-vpg-button';
import { EmptyState } from '../../components/empty-state';

interface Props {
  readonly blocker: string | undefined;
}

/** No VPGs yet: what a VPG is, and what it takes to create one. */
export function EmptyProtection({ blocker }: Props) {
  return (
    <EmptyState icon={<Shield />} title="No VPGs yet">
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
    </EmptyState>
  );
}
