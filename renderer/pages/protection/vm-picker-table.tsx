import Checkbox from '@mui/material/Checkbox';
import FormHelperText from '@mui/material/FormHelperText';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot } from '../../../app/protocol/console-api';
import { formatBytes, formatMiB, pluralize } from '../../lib/format';
import { vpgOfVm } from '../../lib/protection';

interface Props {
  readonly snapshot: EstateSnapshot;
  /** The protected site whose VMs are listed ('' before one is chosen). */
  readonly siteId: string;
  readonly vmIds: readonly string[];
  onChange(vmIds: readonly string[]): void;
  readonly error?: string | undefined;
  /** The VPG being edited: its own VMs can be chosen. */
  readonly ownVpgId?: string;
}

/** A site's VMs to choose for a VPG; those in another VPG or that cannot be protected are greyed. */
export function VmPickerTable({ snapshot, siteId, vmIds, onChange, error, ownVpgId }: Props) {
  const vms = snapshot.vms.filter((v) => v.siteId === siteId);
  const otherVpg = (vmId: string) => {
    const vpg = vpgOfVm(snapshot.vpgs, siteId, vmId);
    return vpg?.vpgId === ownVpgId ? undefined : vpg;
  };
  const free = vms.filter((v) => otherVpg(v.vmId) === undefined && v.cannotProtect === undefined);
  const chosen = new Set(vmIds);
  const allChosen = free.length > 0 && free.every((v) => chosen.has(v.vmId));
  const toggle = (vmId: string): void =>
    onChange(chosen.has(vmId) ? vmIds.filter((id) => id !== vmId) : [...vmIds, vmId]);
  const hostName = (agentKey: string, hostId: string): string =>
    snapshot.hosts.find((h) => h.agentKey === agentKey && h.hostId === hostId)?.name ?? hostId;
  return (
    <div>
      <Typography variant="subtitle2" sx={{ mb: 1 }}>
        VMs to protect{' '}
        <Typography component="span" variant="body2" color="text.secondary">
          · {pluralize(vmIds.length, 'VM')} chosen
        </Typography>
      </Typography>
      <TableContainer
        sx={{
          border: 1,
          borderColor: error ? 'error.main' : 'divider',
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
                  indeterminate={!allChosen && vmIds.length > 0}
                  disabled={free.length === 0}
                  onChange={() => onChange(allChosen ? [] : free.map((v) => v.vmId))}
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
                    {siteId === ''
                      ? 'Choose the protected site first.'
                      : 'This site reports no VMs.'}
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {vms.map((vm) => {
              const inVpg = otherVpg(vm.vmId);
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
      {error && <FormHelperText error>{error}</FormHelperText>}
    </div>
  );
}
