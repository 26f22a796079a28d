import BookmarkAdd from '@mui/icons-material/BookmarkAdd';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import FormControlLabel from '@mui/material/FormControlLabel';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Switch from '@mui/material/Switch';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { ChangeSparkline } from '../../../components/checkpoints/change-sparkline';
import { ErrorAlert } from '../../../components/error-alert';
import { formatSourceTime } from '../../../lib/protection';
import { useCheckpointStore } from '../../../stores/checkpoint-store';
import { CheckpointStatus } from './checkpoint-status';

/** How many of the newest checkpoints the table shows. */
const SHOWN = 25;

interface Props {
  /** Why no checkpoint can be inserted now, or undefined when one can. */
  readonly insertBlocker: string | undefined;
}

/** Newest first: source time, name, automatic or named, confirmed at the recovery site or not. */
export function CheckpointsCard({ insertBlocker }: Props) {
  const items = useCheckpointStore((s) => s.items);
  const followed = useCheckpointStore((s) => s.followed);
  const loadError = useCheckpointStore((s) => s.loadError);
  const openInsert = useCheckpointStore((s) => s.openInsert);
  const refresh = useCheckpointStore((s) => s.refresh);
  const [namedOnly, setNamedOnly] = useState(false);
  const shown = [...items]
    .filter((c) => !namedOnly || c.name !== undefined)
    .sort((a, b) => b.seq - a.seq)
    .slice(0, SHOWN);
  const total = namedOnly ? items.filter((c) => c.name !== undefined).length : items.length;

  return (
    <Paper
      component="section"
      aria-label="Checkpoints"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Stack direction="row" sx={{ alignItems: 'center', mb: 2, gap: 2 }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h2">Checkpoints</Typography>
          <Typography variant="body2" color="text.secondary">
            Points the VMs can be recovered to, by the time at the protected site
          </Typography>
        </Box>
        <FormControlLabel
          control={
            <Switch
              size="small"
              checked={namedOnly}
              onChange={(e) => setNamedOnly(e.target.checked)}
            />
          }
          label="Named only"
        />
        <Button
          variant="outlined"
          startIcon={<BookmarkAdd />}
          onClick={openInsert}
          disabled={insertBlocker !== undefined}
          title={insertBlocker}
        >
          Insert checkpoint
        </Button>
      </Stack>
      {loadError && (
        <ErrorAlert
          error={loadError}
          title="Could not load the checkpoints"
          sx={{ mb: 2 }}
          action={
            <Button color="inherit" size="small" onClick={() => void refresh()}>
              Try again
            </Button>
          }
        />
      )}
      {items.length > 0 && (
        <Box sx={{ mb: 2 }}>
          <ChangeSparkline checkpoints={items} height={56} />
        </Box>
      )}
      <TableContainer sx={{ border: 1, borderColor: 'divider', borderRadius: 2 }}>
        <Table size="small" aria-label="Checkpoints">
          <TableHead>
            <TableRow>
              <TableCell>Time (source)</TableCell>
              <TableCell>Name</TableCell>
              <TableCell>Kind</TableCell>
              <TableCell>At the recovery site</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {shown.length === 0 && (
              <TableRow>
                <TableCell colSpan={4}>
                  <Typography variant="body2" color="text.secondary" sx={{ py: 1 }}>
                    {namedOnly ? 'No named checkpoints yet.' : 'No checkpoints yet.'}
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {shown.map((c) => (
              <TableRow
                key={c.seq}
                aria-label={`Checkpoint ${c.name ?? c.seq}`}
                selected={followed[c.seq] !== undefined}
              >
                <TableCell sx={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>
                  {formatSourceTime(c.sourceTime)}
                </TableCell>
                <TableCell sx={{ fontWeight: c.name ? 600 : 400 }}>{c.name ?? '—'}</TableCell>
                <TableCell>
                  <Chip
                    size="small"
                    variant="outlined"
                    label={c.name === undefined ? 'Automatic' : 'Named'}
                    color={c.name === undefined ? 'default' : 'secondary'}
                  />
                </TableCell>
                <TableCell>
                  <CheckpointStatus checkpoint={c} followed={followed[c.seq]} />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      {total > SHOWN && (
        <Typography variant="caption" color="text.secondary" sx={{ display: 'block', mt: 1 }}>
          Showing the {SHOWN} newest of {total}.
        </Typography>
      )}
    </Paper>
  );
}
