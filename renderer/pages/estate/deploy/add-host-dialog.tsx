import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import { ErrorAlert } from '../../../components/error-alert';
import { useHostsStore } from '../../../stores/hosts-store';

/** Add a host to deploy an agent to: where to log in over SSH, and the site it starts. */
export function AddHostDialog() {
  const open = useHostsStore((s) => s.addOpen);
  const form = useHostsStore((s) => s.addForm);
  const adding = useHostsStore((s) => s.adding);
  const error = useHostsStore((s) => s.addError);
  const edit = useHostsStore((s) => s.editAdd);
  const close = useHostsStore((s) => s.closeAdd);
  const add = useHostsStore((s) => s.add);
  const ready = form.address.trim() !== '' && form.user.trim() !== '' && form.site.trim() !== '';

  return (
    <Dialog open={open} onClose={close} maxWidth="sm" fullWidth aria-labelledby="add-host-title">
      <DialogTitle id="add-host-title">Add a host</DialogTitle>
      <DialogContent>
        <DialogContentText sx={{ mb: 2 }}>
          The console logs in over SSH to install the agent. Nothing is contacted until you confirm
          the host key in the next step.
        </DialogContentText>
        <Stack spacing={2}>
          <Stack direction="row" spacing={2}>
            <TextField
              label="Host name or address"
              value={form.address}
              onChange={(e) => edit({ address: e.target.value })}
              autoFocus
              fullWidth
              required
            />
            <TextField
              label="SSH port"
              value={form.sshPort}
              onChange={(e) => edit({ sshPort: e.target.value })}
              inputMode="numeric"
              sx={{ width: 120 }}
            />
          </Stack>
          <TextField
            label="SSH user"
            value={form.user}
            onChange={(e) => edit({ user: e.target.value })}
            helperText="root, or a user that may run sudo"
            required
          />
          <TextField
            label="Site name"
            value={form.site}
            onChange={(e) => edit({ site: e.target.value })}
            helperText="The site this host's agent starts, e.g. Headquarters"
            required
          />
          <Stack direction="row" spacing={2}>
            <TextField
              select
              label="Hypervisor"
              value={form.hypervisor}
              onChange={(e) => edit({ hypervisor: e.target.value as 'auto' | 'sim' | 'libvirt' })}
              fullWidth
            >
              <MenuItem value="auto">Detect (libvirt if virsh answers)</MenuItem>
              <MenuItem value="libvirt">libvirt / KVM</MenuItem>
              <MenuItem value="sim">Simulated (demo)</MenuItem>
            </TextField>
            <TextField
              label="Agent port"
              value={form.agentPort}
              onChange={(e) => edit({ agentPort: e.target.value })}
              inputMode="numeric"
              sx={{ width: 140 }}
            />
          </Stack>
          {error && <ErrorAlert error={error} />}
        </Stack>
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        <Button onClick={close} disabled={adding}>
          Cancel
        </Button>
        <Button variant="contained" onClick={() => void add()} disabled={!ready || adding}>
          Add host
        </Button>
      </DialogActions>
    </Dialog>
  );
}
