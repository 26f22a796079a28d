import Visibility from '@mui/icons-material/Visibility';
import VisibilityOff from '@mui/icons-material/VisibilityOff';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import IconButton from '@mui/material/IconButton';
import InputAdornment from '@mui/material/InputAdornment';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import { useState, type FormEvent } from 'react';
import { ErrorAlert } from '../../../components/error-alert';
import {
  selectAddressError,
  selectTokenError,
  useAddAgentStore,
} from '../../../stores/add-agent-store';
import { monoFontFamily } from '../../../theme';

/** Step (a): the agent's address and the admin token its init printed. */
export function AddressStep() {
  const address = useAddAgentStore((s) => s.address);
  const token = useAddAgentStore((s) => s.token);
  const busy = useAddAgentStore((s) => s.busy);
  const error = useAddAgentStore((s) => s.error);
  const addressError = useAddAgentStore(selectAddressError);
  const tokenError = useAddAgentStore(selectTokenError);
  const { setField, blur, next, close } = useAddAgentStore.getState();
  const [showToken, setShowToken] = useState(false);

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    void next();
  };

  return (
    <form onSubmit={submit} noValidate>
      <DialogContent>
        <DialogContentText sx={{ mb: 2.5 }}>
          Enter the address of the agent and the admin token that{' '}
          <code style={{ fontFamily: monoFontFamily }}>tideline-agent init</code> printed on that
          host. The console checks the agent’s certificate before it sends the token anywhere.
        </DialogContentText>
        <Stack spacing={2.5}>
          <TextField
            id="add-agent-address"
            label="Agent address"
            placeholder="10.0.0.5:7443"
            value={address}
            onChange={(e) => setField('address', e.target.value)}
            onBlur={() => blur('address')}
            error={addressError !== undefined}
            helperText={addressError ?? 'Host name or IP address, and the agent’s port'}
            disabled={busy}
            autoFocus
            fullWidth
            slotProps={{
              htmlInput: {
                spellCheck: false,
                autoComplete: 'off',
                style: { fontFamily: monoFontFamily },
              },
            }}
          />
          <TextField
            id="add-agent-token"
            label="Admin token"
            type={showToken ? 'text' : 'password'}
            value={token}
            onChange={(e) => setField('token', e.target.value)}
            onBlur={() => blur('token')}
            error={tokenError !== undefined}
            helperText={
              tokenError ?? 'Shown once by tideline-agent init; the agent keeps only its hash'
            }
            disabled={busy}
            fullWidth
            slotProps={{
              htmlInput: {
                spellCheck: false,
                autoComplete: 'off',
                style: { fontFamily: monoFontFamily },
              },
              input: {
                endAdornment: (
                  <InputAdornment position="end">
                    <IconButton
                      aria-label={showToken ? 'Hide token' : 'Show token'}
                      onClick={() => setShowToken(!showToken)}
                      edge="end"
                    >
                      {showToken ? <VisibilityOff /> : <Visibility />}
                    </IconButton>
                  </InputAdornment>
                ),
              },
            }}
          />
          {error && <ErrorAlert error={error} title="Could not reach the agent" />}
        </Stack>
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2.5 }}>
        <Button onClick={close} disabled={busy}>
          Cancel
        </Button>
        <Button
          type="submit"
          variant="contained"
          disabled={busy}
          startIcon={busy ? <CircularProgress size={16} color="inherit" /> : undefined}
        >
          Next
        </Button>
      </DialogActions>
    </form>
  );
}
