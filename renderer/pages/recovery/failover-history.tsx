import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import { formatDuration } from '../../lib/protection';
import { MODE_TEXT, PHASE, checkpointLabel } from '../../lib/recovery';
import { useRecoveryStore } from '../../stores/recovery-store';
import { DiscardTestsDialog, testedVpgs } from './discard-tests-dialog';

/** How many failovers the history lists. */
const SHOWN = 15;

/** Failovers in progress and those that ended recently, newest first. */
export function FailoverHistory({ failovers }: { failovers: readonly ConsoleFailover[] }) {
  const view = useRecoveryStore((s) => s.view);
  const [discarding, setDiscarding] = useState(false);
  const tested = testedVpgs(failovers).length > 0;
  return (
    <Paper
      component="section"
      aria-label="Failovers"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Stack direction="row" sx={{ alignItems: 'flex-start', gap: 2 }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h2">Failovers</Typography>
          <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
            In progress and recently ended, as the recovery sites&apos; agents report them
          </Typography>
        </Box>
        {tested && (
          <Button size="small" onClick={() => setDiscarding(true)}>
            Discard test records…
          </Button>
        )}
      </Stack>
      {discarding && (
        <DiscardTestsDialog failovers={failovers} onClose={() => setDiscarding(false)} />
      )}
      {failovers.length === 0 ? (
        <Typography color="text.secondary" sx={{ py: 1 }}>
          None to show. Rehearse a failover with a test: protection goes on while it runs.
        </Typography>
      ) : (
        <Table size="small" aria-label="Failover history">
          <TableHead>
            <TableRow>
              <TableCell>Started</TableCell>
              <TableCell>VPG</TableCell>
              <TableCell>Mode</TableCell>
              <TableCell>Checkpoint</TableCell>
              <TableCell>Phase</TableCell>
              <TableCell>Took</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {failovers.slice(0, SHOWN).map((f) => (
              <TableRow key={f.failoverId} aria-label={`Failover ${f.vpgName} ${f.mode}`}>
                <TableCell sx={{ whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' }}>
                  {new Date(f.startedAt).toLocaleString()}
                </TableCell>
                <TableCell sx={{ fontWeight: 600 }}>{f.vpgName}</TableCell>
                <TableCell>{MODE_TEXT[f.mode].label}</TableCell>
                <TableCell>{checkpointLabel(f)}</TableCell>
                <TableCell>
                  <Chip
                    size="small"
                    variant="outlined"
                    label={PHASE[f.phase].label}
                    color={PHASE[f.phase].color}
                    title={f.message}
                  />
                </TableCell>
                <TableCell sx={{ fontVariantNumeric: 'tabular-nums' }}>
                  {f.endedAt === undefined
                    ? '—'
                    : formatDuration(Math.max(1, (f.endedAt - f.startedAt) / 1000))}
                </TableCell>
                <TableCell align="right">
                  <Button size="small" onClick={() => view(f.vpgId, f.failoverId)}>
                    Details
                  </Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Paper>
  );
}
