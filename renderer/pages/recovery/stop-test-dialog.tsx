import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import FormControl from '@mui/material/FormControl';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormLabel from '@mui/material/FormLabel';
import Radio from '@mui/material/Radio';
import RadioGroup from '@mui/material/RadioGroup';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import type { TestResult } from '../../../app/recovery/recovery-schemas';
import { ErrorAlert } from '../../components/error-alert';
import { checkpointLabel } from '../../lib/recovery';
import { useRecoveryStore } from '../../stores/recovery-store';

/** Stop a test failover: the verdict and a note are recorded on its checkpoint. */
export function StopTestDialog({ failover }: { failover: ConsoleFailover }) {
  const open = useRecoveryStore((s) => s.stopTestOpen);
  const acting = useRecoveryStore((s) => s.acting);
  const error = useRecoveryStore((s) => s.actionError);
  const { closeStopTest, stopTest } = useRecoveryStore.getState();
  const [result, setResult] = useState<TestResult>('Passed');
  const [note, setNote] = useState('');
  if (!open) return null;
  return (
    <Dialog open onClose={closeStopTest} maxWidth="sm" fullWidth aria-labelledby="stop-test-title">
      <DialogTitle id="stop-test-title">Stop the test of {failover.vpgName}</DialogTitle>
      <DialogContent dividers>
        <Typography variant="body2" sx={{ mb: 2 }}>
          The test VMs are powered off and removed with their scratch data and the test networks.
          Protection was never interrupted. The result is recorded on checkpoint{' '}
          <strong>{checkpointLabel(failover)}</strong>.
        </Typography>
        <FormControl>
          <FormLabel id="test-result-label">Result</FormLabel>
          <RadioGroup
            row
            aria-labelledby="test-result-label"
            value={result}
            onChange={(e) => setResult(e.target.value as TestResult)}
          >
            <FormControlLabel value="Passed" control={<Radio />} label="Passed" />
            <FormControlLabel value="Failed" control={<Radio color="error" />} label="Failed" />
          </RadioGroup>
        </FormControl>
        <TextField
          label="Note"
          value={note}
          onChange={(e) => setNote(e.target.value)}
          fullWidth
          multiline
          minRows={2}
          slotProps={{ htmlInput: { maxLength: 500 } }}
          helperText="What was checked, e.g. “app login and DB queries OK”"
          sx={{ mt: 2 }}
        />
        {error && <ErrorAlert error={error} title="Could not stop the test" sx={{ mt: 2 }} />}
      </DialogContent>
      <DialogActions sx={{ px: 3, py: 2 }}>
        <Button onClick={closeStopTest} disabled={acting !== undefined} sx={{ mr: 'auto' }}>
          Cancel
        </Button>
        <Button
          variant="contained"
          color="secondary"
          disabled={acting !== undefined}
          onClick={() => void stopTest(failover, result, note)}
        >
          Stop test
        </Button>
      </DialogActions>
    </Dialog>
  );
}
