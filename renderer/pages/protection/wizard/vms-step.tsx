import ListItemText from '@mui/material/ListItemText';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { pairedSites } from '../../../lib/protection';
import { useVpgWizardStore } from '../../../stores/vpg-wizard-store';
import { VmPickerTable } from '../vm-picker-table';

/** Step 1: the VPG's name, its protected site, and which of that site's VMs it protects. */
export function VmsStep({ snapshot }: { snapshot: EstateSnapshot }) {
  const form = useVpgWizardStore((s) => s.form);
  const errors = useVpgWizardStore((s) => s.errors);
  const { setText, chooseProtectedSite, setVms } = useVpgWizardStore.getState();

  return (
    <Stack spacing={2.5}>
      <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2}>
        <TextField
          id="vpg-name"
          label="VPG name"
          placeholder="Finance"
          value={form.name}
          onChange={(e) => setText('name', e.target.value)}
          error={errors.name !== undefined}
          helperText={errors.name ?? 'VMs recovered together, for example one application'}
          autoFocus
          fullWidth
          slotProps={{ htmlInput: { autoComplete: 'off' } }}
        />
        <TextField
          id="vpg-protected-site"
          select
          fullWidth
          label="Protected site"
          value={form.protectedSiteId}
          onChange={(e) => chooseProtectedSite(e.target.value)}
          error={errors.protectedSiteId !== undefined}
          helperText={errors.protectedSiteId ?? 'Where the VMs run today'}
        >
          {snapshot.sites.map((site) => {
            const paired = pairedSites(snapshot, site.siteId).length > 0;
            return (
              <MenuItem key={site.siteId} value={site.siteId} disabled={!paired}>
                <ListItemText
                  primary={site.name}
                  secondary={
                    paired ? site.location || undefined : 'Not paired with a recovery site'
                  }
                />
              </MenuItem>
            );
          })}
        </TextField>
      </Stack>
      <VmPickerTable
        snapshot={snapshot}
        siteId={form.protectedSiteId}
        vmIds={form.vmIds}
        onChange={setVms}
        error={errors.vmIds}
      />
    </Stack>
  );
}
