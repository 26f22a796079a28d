import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import { ErrorAlert } from '../../../components/error-alert';
import { usePairingStore } from '../../../stores/pairing-store';

/** Confirmation before two sites' agents forget each other. */
export function UnpairDialog() {
  const target = usePairingStore((s) => s.unpairTarget);
  const busy = usePairingStore((s) => s.unpairing);
  const error = usePairingStore((s) => s.unpairError);
  const result = usePairingStore((s) => s.unpairResult);
  const { unpair, closeUnpair } = usePairingStore.getState();
  if (target === undefined) return null;
  const names = `${target.siteName} and ${target.peerSiteName}`;

  return (
    <Dialog
      open
      onClose={busy ? undefined : closeUnpair}
      maxWidth="xs"
      fullWidth
      aria-labelledby="unpair-title"
    >
      <DialogTitle id="unpair-title">Unpair {names}?</DialogTitle>
      <DialogContent>
        <DialogContentText>
          Both sites’ agents forget each other’s certificates and refuse each other’s connections:
          replication between these sites stops until you pair them again.
        </DialogContentText>
        {busy && <LinearProgress sx={{ mt: 2 }} aria-label="Unpairing the sites" />}
        {error && <ErrorAlert error={error} title="Could not unpair the sites" sx={{ mt: 2 }} />}
        {result && (
          <Alert severity="warning" sx={{ mt: 2 }}>
            {result.message}
          </Alert>
        )}
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        {result ? (
          <Button variant="contained" onClick={closeUnpair}>
            Close
          </Button>
        ) : (
          <>
            <Button onClick={closeUnpair} disabled={busy}>
              Cancel
            </Button>
            <Button color="error" variant="contained" onClick={() => void unpair()} disabled={busy}>
              Unpair
            </Button>
          </>
        )}
      </DialogActions>
    </Dialog>
  );
}
