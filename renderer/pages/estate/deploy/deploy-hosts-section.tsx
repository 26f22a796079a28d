import Add from '@mui/icons-material/Add';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardContent from '@mui/material/CardContent';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { HostEntryView } from '../../../../app/protocol/console-hosts-api';
import { ErrorAlert } from '../../../components/error-alert';
import { useHostsStore } from '../../../stores/hosts-store';
import { monoFontFamily } from '../../../theme';
import { AddHostDialog } from './add-host-dialog';
import { HostCredentialsDialog } from './host-credentials-dialog';
import { HostKeyDialog } from './host-key-dialog';
import { HostStateChip } from './host-state-chip';

/** Hosts the console deploys agents to over SSH: add, confirm the key, deploy, upgrade, undeploy. */
export function DeployHostsSection() {
  const hosts = useHostsStore((s) => s.hosts);
  const loadError = useHostsStore((s) => s.loadError);
  const openAdd = useHostsStore((s) => s.openAdd);

  return (
    <Card variant="outlined" component="section" aria-labelledby="deploy-hosts-title">
      <CardContent>
        <Stack direction="row" sx={{ alignItems: 'center', mb: 2, gap: 2 }}>
          <Box sx={{ flexGrow: 1 }}>
            <Typography id="deploy-hosts-title" variant="h2">
              Hosts
            </Typography>
            <Typography color="text.secondary" variant="body2">
              Install the agent on a hypervisor host over SSH; the console then connects to it.
            </Typography>
          </Box>
          <Button variant="outlined" startIcon={<Add />} onClick={openAdd}>
            Add host
          </Button>
        </Stack>
        {loadError && <ErrorAlert error={loadError} sx={{ mb: 2 }} />}
        {hosts !== undefined && hosts.length === 0 && (
          <Typography color="text.secondary">
            No hosts yet. Add one to deploy an agent to it.
          </Typography>
        )}
        {hosts !== undefined && hosts.length > 0 && (
          <TableContainer sx={{ border: 1, borderColor: 'divider', borderRadius: 2 }}>
            <Table size="small" aria-label="Hosts to deploy to">
              <TableHead>
                <TableRow>
                  <TableCell>Host</TableCell>
                  <TableCell>Site</TableCell>
                  <TableCell>Agent</TableCell>
                  <TableCell>Host key</TableCell>
                  <TableCell align="right">Actions</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {hosts.map((host) => (
                  <HostRow key={host.hostId} host={host} />
                ))}
              </TableBody>
            </Table>
          </TableContainer>
        )}
      </CardContent>
      <AddHostDialog />
      <HostKeyDialog />
      <HostCredentialsDialog />
    </Card>
  );
}

function HostRow({ host }: { readonly host: HostEntryView }) {
  const openKey = useHostsStore((s) => s.openKey);
  const openCredentials = useHostsStore((s) => s.openCredentials);
  const remove = useHostsStore((s) => s.remove);
  const busy =
    host.state === 'Installing' || host.state === 'Upgrading' || host.state === 'Uninstalling';
  const pinned = host.hostKey !== undefined;
  const { progress } = host;

  return (
    <TableRow aria-label={`Host ${host.address}`}>
      <TableCell component="th" scope="row">
        <Typography sx={{ fontWeight: 600 }}>{host.address}</Typography>
        <Typography variant="body2" color="text.secondary">
          {host.user}@{host.address}:{host.sshPort}
        </Typography>
      </TableCell>
      <TableCell>{host.site}</TableCell>
      <TableCell sx={{ minWidth: 220 }}>
        <Stack direction="row" sx={{ alignItems: 'center', gap: 1 }}>
          <HostStateChip state={host.state} />
          {host.agentVersion && (
            <Typography variant="body2" color="text.secondary">
              {host.agentVersion}
            </Typography>
          )}
        </Stack>
        {busy && progress && (
          <Box sx={{ mt: 1 }} aria-label={`Progress of ${host.address}`}>
            <Typography variant="caption" color="text.secondary">
              Step {progress.index + 1} of {progress.of}: {progress.step}
              {progress.fraction !== undefined && ` (${Math.round(progress.fraction * 100)} %)`}
            </Typography>
            <LinearProgress
              variant="determinate"
              value={((progress.index + (progress.fraction ?? 0)) / progress.of) * 100}
            />
          </Box>
        )}
        {host.reason && (
          <Typography
            variant="body2"
            color={host.state === 'Failed' ? 'error' : 'warning.main'}
            sx={{ mt: 0.5 }}
          >
            {host.reason}
          </Typography>
        )}
      </TableCell>
      <TableCell>
        {pinned ? (
          <Box
            component="span"
            sx={{ fontFamily: monoFontFamily, fontSize: '0.75rem', wordBreak: 'break-all' }}
          >
            {host.hostKey}
          </Box>
        ) : (
          <Typography variant="body2" color="warning.main">
            Not confirmed
          </Typography>
        )}
      </TableCell>
      <TableCell align="right">
        <Stack direction="row" sx={{ gap: 1, justifyContent: 'flex-end', flexWrap: 'wrap' }}>
          {!pinned && (
            <Button size="small" variant="contained" onClick={() => void openKey(host.hostId)}>
              Confirm key
            </Button>
          )}
          {pinned && (host.state === 'NotInstalled' || host.state === 'Failed') && (
            <Button
              size="small"
              variant="contained"
              onClick={() => openCredentials(host.hostId, 'deploy')}
            >
              Deploy
            </Button>
          )}
          {host.state === 'Installed' && (
            <Button size="small" onClick={() => openCredentials(host.hostId, 'upgrade')}>
              Upgrade
            </Button>
          )}
          {(host.state === 'Installed' || host.state === 'Failed') && pinned && (
            <Button
              size="small"
              color="error"
              onClick={() => openCredentials(host.hostId, 'undeploy')}
            >
              Undeploy
            </Button>
          )}
          {(host.state === 'NotInstalled' || host.state === 'Failed') && (
            <Button size="small" color="inherit" onClick={() => void remove(host.hostId)}>
              Remove
            </Button>
          )}
        </Stack>
      </TableCell>
    </TableRow>
  );
}
