import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import { ErrorAlert } from '../../../components/error-alert';
import { siteName } from '../../../lib/protection';
import { selectSnapshot, useEstateStore } from '../../../stores/estate-store';
import { useProtectionStore } from '../../../stores/protection-store';

/** Confirmation before a VPG stops protecting and its journal and replicas are deleted. */
export function RemoveVpgDialog() {
  const target = useProtectionStore((s) => s.removeTarget);
  const busy = useProtectionStore((s) => s.removing);
  const error = useProtectionStore((s) => s.removeError);
  const { removeVpg, closeRemove } = useProtectionStore.getState();
  const snapshot = useEstateStore(selectSnapshot);
  if (target === undefined) return null;
  const recovery = siteName(snapshot, target.recoverySiteId);
  const source = siteName(snapshot, target.protectedSiteId);

  return (
    <Dialog
      open
      onClose={busy ? undefined : closeRemove}
      maxWidth="xs"
      fullWidth
      aria-labelledby="remove-vpg-title"
    >
      <DialogTitle id="remove-vpg-title">Remove VPG {target.name}?</DialogTitle>
      <DialogContent>
        <DialogContentText>
          Replication stops, and the journal, its checkpoints and the replica disks at {recovery}{' '}
          are deleted: these VMs can no longer be recovered there. The VMs keep running at {source}.
        </DialogContentText>
        {busy && <LinearProgress sx={{ mt: 2 }} aria-label="Removing the VPG" />}
        {error && <ErrorAlert error={error} title="Could not remove the VPG" sx={{ mt: 2 }} />}
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        <Button onClick={closeRemove} disabled={busy}>
          Cancel
        </Button>
        <Button color="error" variant="contained" onClick={() => void removeVpg()} disabled={busy}>
          Remove VPG
        </Button>
      </DialogActions>
    </Dialog>
  );
}
