import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import TextField from '@mui/material/TextField';
import type { FormEvent } from 'react';
import { ErrorAlert } from '../../../components/error-alert';
import { useCheckpointStore } from '../../../stores/checkpoint-store';

/** Name a checkpoint ("before-upgrade") and insert it into the VPG's write stream now. */
export function InsertCheckpointDialog({ vpgName }: { vpgName: string }) {
  const open = useCheckpointStore((s) => s.insertOpen);
  const name = useCheckpointStore((s) => s.insertName);
  const busy = useCheckpointStore((s) => s.inserting);
  const error = useCheckpointStore((s) => s.insertError);
  const { setInsertName, insert, closeInsert } = useCheckpointStore.getState();
  if (!open) return null;
  const tooLong = name.trim().length > 120;
  const canSubmit = !busy && name.trim() !== '' && !tooLong;

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (canSubmit) void insert();
  };

  return (
    <Dialog
      open
      onClose={busy ? undefined : closeInsert}
      maxWidth="xs"
      fullWidth
      aria-labelledby="insert-checkpoint-title"
    >
      <form onSubmit={submit} noValidate>
        <DialogTitle id="insert-checkpoint-title">Insert checkpoint</DialogTitle>
        <DialogContent>
          <DialogContentText sx={{ mb: 2.5 }}>
            A named checkpoint marks this moment in {vpgName}’s writes, for example before an
            upgrade, so you can recover all its VMs to exactly here.
          </DialogContentText>
          <TextField
            id="checkpoint-name"
            label="Checkpoint name"
            placeholder="before-upgrade"
            value={name}
            onChange={(e) => setInsertName(e.target.value)}
            error={tooLong}
            helperText={tooLong ? 'At most 120 characters' : 'What is about to happen, or why'}
            disabled={busy}
            autoFocus
            fullWidth
            slotProps={{ htmlInput: { maxLength: 200, autoComplete: 'off' } }}
          />
          {busy && <LinearProgress sx={{ mt: 2 }} aria-label="Inserting the checkpoint" />}
          {error && (
            <ErrorAlert error={error} title="Could not insert the checkpoint" sx={{ mt: 2 }} />
          )}
        </DialogContent>
        <DialogActions sx={{ px: 3, pb: 2 }}>
          <Button onClick={closeInsert} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" disabled={!canSubmit}>
            Insert
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
