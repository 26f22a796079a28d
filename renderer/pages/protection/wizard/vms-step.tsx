import Checkbox from '@mui/material/Checkbox';
import FormHelperText from '@mui/material/FormHelperText';
import ListItemText from '@mui/material/ListItemText';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { formatBytes, formatMiB, pluralize } from '../../../lib/format';
import { pairedSites, vpgOfVm } from '../../../lib/protection';
import { useVpgWizardStore } from '../../../stores/vpg-wizard-store';

/** Step 1: the VPG's name, its protected site, and which of that site's VMs it protects. */
export function VmsStep({ snapshot }: { snapshot: EstateSnapshot }) {
  const form = useVpgWizardStore((s) => s.form);
  const errors = useVpgWizardStore((s) => s.errors);
  const { setText, chooseProtectedSite, setVms } = useVpgWizardStore.getState();
  const vms = snapshot.vms.filter((v) => v.siteId === form.protectedSiteId);
  const free = vms.filter(
    (v) => vpgOfVm(snapshot.vpgs, v.siteId, v.vmId) === undefined && v.cannotProtect === undefined,
  );
  const chosen = new Set(form.vmIds);
  const allChosen = free.length > 0 && free.every((v) => chosen.has(v.vmId));
  const toggle = (vmId: string): void =>
    setVms(chosen.has(vmId) ? form.vmIds.filter((id) => id !== vmId) : [...form.vmIds, vmId]);
  const hostName = (agentKey: string, hostId: string): string =>
    snapshot.hosts.find((h) => h.agentKey === agentKey && h.hostId === hostId)?.name ?? hostId;

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
      <div>
        <Typography variant="subtitle2" sx={{ mb: 1 }}>
          VMs to protect{' '}
          <Typography component="span" variant="body2" color="text.secondary">
            · {pluralize(form.vmIds.length, 'VM')} chosen
          </Typography>
        </Typography>
        <TableContainer
          sx={{
            border: 1,
            borderColor: errors.vmIds ? 'error.main' : 'divider',
            borderRadius: 2,
            maxHeight: 300,
          }}
        >
          <Table size="small" stickyHeader aria-label="VMs to protect">
            <TableHead>
              <TableRow>
                <TableCell padding="checkbox">
                  <Checkbox
                    size="small"
                    checked={allChosen}
                    indeterminate={!allChosen && form.vmIds.length > 0}
                    disabled={free.length === 0}
                    onChange={() => setVms(allChosen ? [] : free.map((v) => v.vmId))}
                    slotProps={{ input: { 'aria-label': 'All VMs' } }}
                  />
                </TableCell>
                <TableCell>VM</TableCell>
                <TableCell>Host</TableCell>
                <TableCell align="right">CPUs</TableCell>
                <TableCell align="right">Memory</TableCell>
                <TableCell>Disks</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {vms.length === 0 && (
                <TableRow>
                  <TableCell colSpan={6}>
                    <Typography variant="body2" color="text.secondary">
                      {form.protectedSiteId === ''
                        ? 'Choose the protected site first.'
                        : 'This site reports no VMs.'}
                    </Typography>
                  </TableCell>
                </TableRow>
              )}
              {vms.map((vm) => {
                const inVpg = vpgOfVm(snapshot.vpgs, vm.siteId, vm.vmId);
                const blocked = inVpg !== undefined || vm.cannotProtect !== undefined;
                const size = vm.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
                return (
                  <TableRow
                    key={vm.vmId}
                    hover={!blocked}
                    onClick={blocked ? undefined : () => toggle(vm.vmId)}
                    sx={{ cursor: blocked ? 'default' : 'pointer', opacity: blocked ? 0.6 : 1 }}
                  >
                    <TableCell padding="checkbox">
                      <Checkbox
                        size="small"
                        checked={chosen.has(vm.vmId)}
                        disabled={blocked}
                        onClick={(e) => e.stopPropagation()}
                        onChange={() => toggle(vm.vmId)}
                        slotProps={{ input: { 'aria-label': vm.name } }}
                      />
                    </TableCell>
                    <TableCell component="th" scope="row">
                      <Typography variant="body2" sx={{ fontWeight: 600 }}>
                        {vm.name}
                      </Typography>
                      <Typography
                        variant="caption"
                        color={vm.cannotProtect === undefined ? 'text.secondary' : 'warning.main'}
                        sx={{ display: 'block' }}
                      >
                        {inVpg ? `Already in VPG ${inVpg.name}` : (vm.cannotProtect ?? vm.guestOs)}
                      </Typography>
                    </TableCell>
                    <TableCell>{hostName(vm.agentKey, vm.hostId)}</TableCell>
                    <TableCell align="right">{vm.cpus}</TableCell>
                    <TableCell align="right">{formatMiB(vm.memoryMiB)}</TableCell>
                    <TableCell>
                      {pluralize(vm.disks.length, 'disk')}
                      {vm.disks.length > 0 && `, ${formatBytes(size)}`}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </TableContainer>
        {errors.vmIds && <FormHelperText error>{errors.vmIds}</FormHelperText>}
      </div>
    </Stack>
  );
}
