import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import type { SshCredentials } from '../../../../app/protocol/console-hosts-api';
import { ErrorAlert } from '../../../components/error-alert';
import { credentialsBlocker, useHostsStore, type HostAction } from '../../../stores/hosts-store';

const TITLES: Record<HostAction, string> = {
  deploy: 'Deploy the agent to',
  upgrade: 'Upgrade the agent on',
  undeploy: 'Undeploy the agent from',
};
const BUTTONS: Record<HostAction, string> = {
  deploy: 'Deploy',
  upgrade: 'Upgrade',
  undeploy: 'Undeploy',
};

/** How to log in for one operation (the password is used for it and not kept), and go. */
export function HostCredentialsDialog() {
  const target = useHostsStore((s) => s.credentialsFor);
  const form = useHostsStore((s) => s.credentials);
  const running = useHostsStore((s) => s.running);
  const error = useHostsStore((s) => s.runError);
  const edit = useHostsStore((s) => s.editCredentials);
  const close = useHostsStore((s) => s.closeCredentials);
  const run = useHostsStore((s) => s.run);
  const host = useHostsStore((s) => s.hosts?.find((h) => h.hostId === target?.hostId));
  if (target === undefined) return null;
  const blocker = credentialsBlocker(form);
  const { action } = target;

  return (
    <Dialog open onClose={close} maxWidth="sm" fullWidth aria-labelledby="host-credentials-title">
      <DialogTitle id="host-credentials-title">
        {TITLES[action]} {host?.address}
      </DialogTitle>
      <DialogContent>
        <DialogContentText sx={{ mb: 2 }}>
          Log in as <strong>{host?.user}</strong>. A password is used for this operation only and is
          not saved; a user other than root needs sudo.
        </DialogContentText>
        <Stack spacing={2}>
          <ToggleButtonGroup
            exclusive
            size="small"
            value={form.kind}
            onChange={(_e, kind: SshCredentials['kind'] | null) => kind && edit({ kind })}
            aria-label="Login method"
          >
            <ToggleButton value="password">Password</ToggleButton>
            <ToggleButton value="key">Key file</ToggleButton>
            <ToggleButton value="agent">SSH agent</ToggleButton>
          </ToggleButtonGroup>
          {form.kind === 'password' && (
            <TextField
              type="password"
              label="Password"
              value={form.password}
              onChange={(e) => edit({ password: e.target.value })}
              autoComplete="off"
              autoFocus
            />
          )}
          {form.kind === 'key' && (
            <>
              <TextField
                label="Private key file"
                value={form.keyPath}
                onChange={(e) => edit({ keyPath: e.target.value })}
                placeholder="/home/me/.ssh/id_ed25519"
              />
              <TextField
                type="password"
                label="Passphrase (if the key has one)"
                value={form.passphrase}
                onChange={(e) => edit({ passphrase: e.target.value })}
                autoComplete="off"
              />
            </>
          )}
          {action === 'undeploy' && (
            <>
              <FormControlLabel
                control={
                  <Checkbox
                    checked={form.deleteData}
                    onChange={(e) => edit({ deleteData: e.target.checked })}
                  />
                }
                label="Also delete replicas and journals"
              />
              {form.deleteData ? (
                <Alert severity="error" role="note">
                  This deletes /var/lib/tideline on the host: the replica disks, journals and
                  checkpoints of every VPG this host receives, the outboxes of the VPGs it protects,
                  and the agent's identity and pairings. It cannot be undone.
                </Alert>
              ) : (
                <Alert severity="info" role="note">
                  The service and the program are removed; /var/lib/tideline (replicas, journals,
                  identity) stays on the host.
                </Alert>
              )}
            </>
          )}
          {error && <ErrorAlert error={error} />}
        </Stack>
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        <Button onClick={close} disabled={running}>
          Cancel
        </Button>
        <Button
          variant="contained"
          color={action === 'undeploy' ? 'error' : 'primary'}
          onClick={() => void run()}
          disabled={blocker !== undefined || running}
          title={blocker}
        >
          {BUTTONS[action]}
        </Button>
      </DialogActions>
    </Dialog>
  );
}
