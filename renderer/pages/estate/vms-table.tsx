import Chip from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { HostView, VmView } from '../../../app/protocol/console-api';
import type { PowerState } from '../../../app/protocol/inventory';
import { HYPERVISOR_NAMES, formatBytes, formatMiB, pluralize } from '../../lib/format';

interface Props {
  readonly vms: readonly VmView[];
  readonly hosts: readonly HostView[];
  readonly siteName: string;
}

const POWER: Record<PowerState, { label: string; color: 'success' | 'default' | 'warning' }> = {
  running: { label: 'Running', color: 'success' },
  stopped: { label: 'Stopped', color: 'default' },
  suspended: { label: 'Suspended', color: 'warning' },
};

export function VmsTable({ vms, hosts, siteName }: Props) {
  const hostOf = (vm: VmView): HostView | undefined =>
    hosts.find((h) => h.hostId === vm.hostId && h.agentKey === vm.agentKey);
  return (
    <TableContainer sx={{ border: 1, borderColor: 'divider', borderRadius: 2 }}>
      <Table size="small" aria-label={`Virtual machines at ${siteName}`}>
        <TableHead>
          <TableRow>
            <TableCell>VM</TableCell>
            <TableCell>Power</TableCell>
            <TableCell>Host</TableCell>
            <TableCell align="right">CPUs</TableCell>
            <TableCell align="right">Memory</TableCell>
            <TableCell>Disks</TableCell>
            <TableCell>Networks</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {vms.map((vm) => {
            const power = POWER[vm.powerState];
            const diskBytes = vm.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
            const networks = [...new Set(vm.nics.map((n) => n.network))];
            return (
              <TableRow key={`${vm.agentKey}/${vm.vmId}`}>
                <TableCell component="th" scope="row">
                  <Typography variant="body2" sx={{ fontWeight: 600 }}>
                    {vm.name}
                  </Typography>
                  {vm.guestOs && (
                    <Typography variant="caption" color="text.secondary">
                      {vm.guestOs}
                    </Typography>
                  )}
                  {vm.cannotProtect !== undefined && (
                    <Tooltip title={vm.cannotProtect}>
                      <Chip
                        size="small"
                        color="warning"
                        variant="outlined"
                        label="Cannot be protected"
                        sx={{ ml: 1 }}
                      />
                    </Tooltip>
                  )}
                </TableCell>
                <TableCell>
                  <Chip size="small" label={power.label} color={power.color} variant="outlined" />
                </TableCell>
                <TableCell>
                  {hostOf(vm)?.name ?? vm.hostId}
                  {hostOf(vm) !== undefined && (
                    <Typography variant="caption" color="text.secondary" sx={{ display: 'block' }}>
                      {HYPERVISOR_NAMES[hostOf(vm)?.hypervisor ?? 'sim']}
                    </Typography>
                  )}
                </TableCell>
                <TableCell align="right">{vm.cpus}</TableCell>
                <TableCell align="right">{formatMiB(vm.memoryMiB)}</TableCell>
                <TableCell>
                  {pluralize(vm.disks.length, 'disk')}
                  {vm.disks.length > 0 && `, ${formatBytes(diskBytes)}`}
                </TableCell>
                <TableCell>
                  {networks.length === 0 ? '—' : networks.join(', ')}
                  {vm.nics.length > 0 && (
                    <Typography variant="caption" color="text.secondary" sx={{ display: 'block' }}>
                      {pluralize(vm.nics.length, 'NIC')}
                      {vm.nics.some((n) => n.ipAddress) &&
                        ` · ${vm.nics.flatMap((n) => (n.ipAddress ? [n.ipAddress] : [])).join(', ')}`}
                    </Typography>
                  )}
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
