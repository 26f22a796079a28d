import Alert from '@mui/material/Alert';
import ListItemText from '@mui/material/ListItemText';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { formatBytes, formatMiB } from '../../../lib/format';
import { pairedSites, siteName } from '../../../lib/protection';
import { useVpgWizardStore } from '../../../stores/vpg-wizard-store';

/** Step 2: the recovery site (a paired peer), the host the VMs come up on, and its datastore. */
export function RecoveryStep({ snapshot }: { snapshot: EstateSnapshot }) {
  const form = useVpgWizardStore((s) => s.form);
  const errors = useVpgWizardStore((s) => s.errors);
  const { chooseRecoverySite, chooseRecoveryHost, setText } = useVpgWizardStore.getState();
  const peers = pairedSites(snapshot, form.protectedSiteId);
  const hosts = snapshot.hosts.filter((h) => h.siteId === form.recoverySiteId);
  const host = hosts.find((h) => h.hostId === form.recoveryHostId);

  return (
    <Stack spacing={2.5}>
      <Typography variant="body2" color="text.secondary">
        The recovery site keeps the journal and the replica disks of{' '}
        {siteName(snapshot, form.protectedSiteId)}’s VMs, and brings them up on the host you choose
        here when you fail over.
      </Typography>
      {peers.length === 0 && (
        <Alert severity="warning">
          {siteName(snapshot, form.protectedSiteId)} is not paired with another site. Pair sites on
          the Estate page first.
        </Alert>
      )}
      <TextField
        id="vpg-recovery-site"
        select
        fullWidth
        label="Recovery site"
        value={form.recoverySiteId}
        onChange={(e) => chooseRecoverySite(e.target.value)}
        error={errors.recoverySiteId !== undefined}
        helperText={errors.recoverySiteId ?? 'A site paired with the protected site'}
      >
        {peers.map((site) => (
          <MenuItem key={site.siteId} value={site.siteId}>
            <ListItemText primary={site.name} secondary={site.location || undefined} />
          </MenuItem>
        ))}
      </TextField>
      <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2}>
        <TextField
          id="vpg-recovery-host"
          select
          fullWidth
          label="Recovery host"
          value={form.recoveryHostId}
          onChange={(e) => chooseRecoveryHost(e.target.value)}
          error={errors.recoveryHostId !== undefined}
          helperText={errors.recoveryHostId ?? 'Where the VMs are registered on failover'}
          disabled={hosts.length === 0}
        >
          {hosts.map((h) => (
            <MenuItem key={`${h.agentKey}/${h.hostId}`} value={h.hostId}>
              <ListItemText
                primary={h.name}
                secondary={`${h.cpuCores} cores · ${formatMiB(h.memoryMiB)}`}
              />
            </MenuItem>
          ))}
        </TextField>
        <TextField
          id="vpg-recovery-datastore"
          select
          fullWidth
          label="Datastore"
          value={form.recoveryDatastore}
          onChange={(e) => setText('recoveryDatastore', e.target.value)}
          error={errors.recoveryDatastore !== undefined}
          helperText={errors.recoveryDatastore ?? 'For the journal and the replica disks'}
          disabled={host === undefined}
        >
          {(host?.datastores ?? []).map((d) => (
            <MenuItem key={d.name} value={d.name}>
              <ListItemText
                primary={d.name}
                secondary={`${formatBytes(d.freeBytes)} free of ${formatBytes(d.capacityBytes)}`}
              />
            </MenuItem>
          ))}
        </TextField>
      </Stack>
    </Stack>
  );
}
