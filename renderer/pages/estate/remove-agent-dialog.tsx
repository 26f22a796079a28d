import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import { useState } from 'react';
import type { AgentView, ErrorView } from '../../../app/protocol/console-api';
import { ErrorAlert } from '../../components/error-alert';
import { useEstateStore } from '../../stores/estate-store';

interface Props {
  readonly agent: AgentView;
  readonly onClose: () => void;
}

/** Confirmation before the console forgets an agent and its pinned fingerprint. */
export function RemoveAgentDialog({ agent, onClose }: Props) {
  const removeAgent = useEstateStore((s) => s.removeAgent);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorView | undefined>();

  const confirm = async (): Promise<void> => {
    setBusy(true);
    const outcome = await removeAgent(agent.key);
    setBusy(false);
    if (outcome.ok) onClose();
    else setError(outcome.error);
  };

  return (
    <Dialog
      open
      onClose={busy ? undefined : onClose}
      maxWidth="xs"
      fullWidth
      aria-labelledby="remove-agent-title"
    >
      <DialogTitle id="remove-agent-title">Remove agent {agent.address}?</DialogTitle>
      <DialogContent>
        <DialogContentText>
          The console disconnects from this agent and forgets its token and pinned certificate
          fingerprint. The agent itself keeps running and keeps protecting its VMs.
        </DialogContentText>
        <Alert severity="info" role="note" sx={{ mt: 2 }}>
          To manage it again later, add it anew with its admin token.
        </Alert>
        {error && <ErrorAlert error={error} sx={{ mt: 2 }} />}
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2 }}>
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button color="error" variant="contained" onClick={() => void confirm()} disabled={busy}>
          Remove agent
        </Button>
      </DialogActions>
    </Dialog>
  );
}
