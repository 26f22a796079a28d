import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useMemo, useState } from 'react';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import type { ErrorView } from '../../../app/protocol/console-api';
import { attempt } from '../../lib/errors';
import { useRecoveryStore } from '../../stores/recovery-store';

interface TestedVpg {
  readonly vpgId: string;
  readonly vpgName: string;
  readonly siteId: string;
  readonly ended: number;
}

/** The VPGs with ended test failovers, and how many each has. */
export function testedVpgs(failovers: readonly ConsoleFailover[]): TestedVpg[] {
  const by = new Map<string, TestedVpg>();
  for (const f of failovers) {
    if (f.mode !== 'test' || f.endedAt === undefined) continue;
    const known = by.get(f.vpgId);
    by.set(f.vpgId, {
      vpgId: f.vpgId,
      vpgName: f.vpgName,
      siteId: f.siteId,
      ended: (known?.ended ?? 0) + 1,
    });
  }
  return [...by.values()].sort((a, b) => a.vpgName.localeCompare(b.vpgName));
}

/** Forget a VPG's oldest ended test failovers; their checkpoints keep the test's mark. */
export function DiscardTestsDialog({
  failovers,
  onClose,
}: {
  failovers: readonly ConsoleFailover[];
  onClose: () => void;
}) {
  const vpgs = useMemo(() => testedVpgs(failovers), [failovers]);
  const discardTests = useRecoveryStore((s) => s.discardTests);
  const [vpgId, setVpgId] = useState(vpgs[0]?.vpgId ?? '');
  const chosen = vpgs.find((v) => v.vpgId === vpgId);
  const [count, setCount] = useState(String(chosen?.ended ?? 1));
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const n = Number(count);
  const valid = chosen !== undefined && Number.isInteger(n) && n >= 1 && n <= 200;
  const discard = async (): Promise<void> => {
    if (!valid) return;
    setBusy(true);
    const outcome = await attempt(() => discardTests(chosen.siteId, chosen.vpgId, n));
    setBusy(false);
    if (outcome.ok) onClose();
    else setError(outcome.error);
  };
  return (
    <Dialog open onClose={onClose} maxWidth="xs" fullWidth aria-labelledby="discard-title">
      <DialogTitle id="discard-title">Discard test records</DialogTitle>
      <DialogContent>
        <Stack spacing={2} sx={{ pt: 1 }}>
          <Typography variant="body2" color="text.secondary">
            The oldest ended test failovers of the VPG are forgotten at its recovery site. The
            checkpoints they tested keep their Passed or Failed mark.
          </Typography>
          <TextField
            select
            label="VPG"
            value={vpgId}
            onChange={(e) => {
              setVpgId(e.target.value);
              setCount(String(vpgs.find((v) => v.vpgId === e.target.value)?.ended ?? 1));
            }}
          >
            {vpgs.map((v) => (
              <MenuItem key={v.vpgId} value={v.vpgId}>
                {v.vpgName} ({v.ended} ended {v.ended === 1 ? 'test' : 'tests'})
              </MenuItem>
            ))}
          </TextField>
          <TextField
            label="How many of the oldest"
            value={count}
            onChange={(e) => setCount(e.target.value)}
            error={!valid}
            helperText={valid ? ' ' : 'a whole number from 1 to 200'}
            slotProps={{ htmlInput: { inputMode: 'numeric' } }}
          />
          {error !== undefined && (
            <Alert severity="error" role="alert">
              {error.message}
            </Alert>
          )}
        </Stack>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant="contained"
          color="error"
          disabled={!valid || busy}
          onClick={() => void discard()}
        >
          Discard
        </Button>
      </DialogActions>
    </Dialog>
  );
}
