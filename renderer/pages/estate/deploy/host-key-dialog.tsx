import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import Typography from '@mui/material/Typography';
import { ErrorAlert } from '../../../components/error-alert';
import { useHostsStore } from '../../../stores/hosts-store';
import { monoFontFamily } from '../../../theme';

/**
 * The SSH host key a host presented, for the admin to compare with the host itself before
 * the console trusts it (as Cockpit does): the fingerprint and the command that prints it.
 */
export function HostKeyDialog() {
  const hostId = useHostsStore((s) => s.keyHostId);
  const offer = useHostsStore((s) => s.keyOffer);
  const busy = useHostsStore((s) => s.keyBusy);
  const error = useHostsStore((s) => s.keyError);
  const close = useHostsStore((s) => s.closeKey);
  const trust = useHostsStore((s) => s.trustKey);
  const host = useHostsStore((s) => s.hosts?.find((h) => h.hostId === hostId));

  return (
    <Dialog
      open={hostId !== undefined}
      onClose={close}
      maxWidth="sm"
      fullWidth
      aria-labelledby="host-key-title"
    >
      <DialogTitle id="host-key-title">
        Confirm the host key of {host?.address ?? 'the host'}
      </DialogTitle>
      <DialogContent>
        {busy && offer === undefined && (
          <Box sx={{ display: 'flex', alignItems: 'center', gap: 2 }}>
            <CircularProgress size={20} /> <Typography>Asking the host for its key…</Typography>
          </Box>
        )}
        {offer && (
          <>
            <DialogContentText>
              The host presents this {offer.keyType} key. Compare it with the output of this
              command, run on the host itself (at its console, not over this network):
            </DialogContentText>
            <Box
              component="pre"
              aria-label="Command to run on the host"
              sx={{
                fontFamily: monoFontFamily,
                bgcolor: 'action.hover',
                p: 1.5,
                borderRadius: 1,
                my: 2,
              }}
            >
              {offer.checkCommand}
            </Box>
            <Typography variant="overline">Fingerprint</Typography>
            <Box
              aria-label="Host key fingerprint"
              sx={{ fontFamily: monoFontFamily, fontSize: '1rem', wordBreak: 'break-all', mb: 2 }}
            >
              {offer.fingerprint}
            </Box>
            <Alert severity="warning" role="note">
              Trust it only if they are the same. Once trusted, the key is pinned: a host that later
              presents another key is refused.
            </Alert>
          </>
        )}
        {error && <ErrorAlert error={error} sx={{ mt: 2 }} />}
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        <Button onClick={close} disabled={busy}>
          Cancel
        </Button>
        <Button
          variant="contained"
          onClick={() => void trust()}
          disabled={offer === undefined || busy}
        >
          Trust this key
        </Button>
      </DialogActions>
    </Dialog>
  );
}
