import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { HostView } from '../../../app/protocol/console-api';
import { HYPERVISOR_NAMES, formatBytes, formatMiB } from '../../lib/format';

interface Props {
  readonly hosts: readonly HostView[];
  readonly siteName: string;
}

export function HostsTable({ hosts, siteName }: Props) {
  return (
    <TableContainer sx={{ border: 1, borderColor: 'divider', borderRadius: 2 }}>
      <Table size="small" aria-label={`Hosts at ${siteName}`}>
        <TableHead>
          <TableRow>
            <TableCell>Host</TableCell>
            <TableCell>Hypervisor</TableCell>
            <TableCell align="right">CPU cores</TableCell>
            <TableCell align="right">Memory</TableCell>
            <TableCell>Datastores</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {hosts.map((host) => (
            <TableRow key={`${host.agentKey}/${host.hostId}`}>
              <TableCell component="th" scope="row" sx={{ fontWeight: 600 }}>
                {host.name}
              </TableCell>
              <TableCell>
                {HYPERVISOR_NAMES[host.hypervisor]}
                {host.hypervisorVersion && (
                  <Typography component="span" variant="body2" color="text.secondary">
                    {' '}
                    {host.hypervisorVersion}
                  </Typography>
                )}
              </TableCell>
              <TableCell align="right">{host.cpuCores}</TableCell>
              <TableCell align="right">{formatMiB(host.memoryMiB)}</TableCell>
              <TableCell>
                {host.datastores.length === 0
                  ? '—'
                  : host.datastores.map((d) => (
                      <Typography key={d.name} variant="body2">
                        {d.name}{' '}
                        <Typography component="span" variant="body2" color="text.secondary">
                          {formatBytes(d.freeBytes)} free of {formatBytes(d.capacityBytes)}
                        </Typography>
                      </Typography>
                    ))}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
