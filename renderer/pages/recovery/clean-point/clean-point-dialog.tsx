import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useMemo } from 'react';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { cleanPointSearch, type CleanPointSearch } from '../../../../app/recovery/clean-point';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { ChangeSparkline } from '../../../components/checkpoints/change-sparkline';
import { ErrorAlert } from '../../../components/error-alert';
import { checkScriptBlocker, checkpointText } from '../../../lib/clean-point';
import { pluralize } from '../../../lib/format';
import { formatSourceTime, siteName } from '../../../lib/protection';
import { activeFailover, checkpointLabel, siteConnected } from '../../../lib/recovery';
import { useCleanPointStore } from '../../../stores/clean-point-store';
import { failoverList, useRecoveryStore } from '../../../stores/recovery-store';
import { CleanPointStep } from './clean-point-step';
import { RangePickers } from './range-pickers';

/** "Find the last clean point…" of the VPG the store has open. */
export function CleanPointDialog({ snapshot }: { snapshot: EstateSnapshot }) {
  const isOpen = useCleanPointStore((s) => s.isOpen);
  const vpgId = useCleanPointStore((s) => s.vpgId);
  const { open, close } = useCleanPointStore.getState();
  const vpg = snapshot.vpgs.find((v) => v.vpgId === vpgId);
  if (!isOpen) return null;
  return (
    <Dialog
      open
      onClose={close}
      maxWidth="lg"
      fullWidth
      aria-labelledby="clean-point-title"
      slotProps={{ paper: { sx: { minHeight: 640 } } }}
    >
      <DialogTitle id="clean-point-title">
        Find the last clean point{vpg ? ` of ${vpg.name}` : ''}
      </DialogTitle>
      <DialogContent dividers>
        {(vpg === undefined || snapshot.vpgs.length > 1) && (
          <TextField
            select
            size="small"
            label="VPG"
            value={vpg?.vpgId ?? ''}
            onChange={(e) => open(snapshot.vpgs.find((v) => v.vpgId === e.target.value))}
            helperText={vpg === undefined ? 'The VPG whose checkpoints to search' : undefined}
            sx={{ mb: 2.5, minWidth: 320 }}
          >
            {snapshot.vpgs.map((v) => (
              <MenuItem key={v.vpgId} value={v.vpgId}>
                {v.name}
              </MenuItem>
            ))}
          </TextField>
        )}
        {vpg && <CleanPointContent vpg={vpg} snapshot={snapshot} />}
      </DialogContent>
      <DialogActions sx={{ px: 3, py: 2 }}>
        <Button onClick={close}>Close</Button>
      </DialogActions>
    </Dialog>
  );
}

function CleanPointContent({ vpg, snapshot }: { vpg: VpgView; snapshot: EstateSnapshot }) {
  const checkpoints = useCleanPointStore((s) => s.checkpoints);
  const loading = useCleanPointStore((s) => s.loading);
  const loadError = useCleanPointStore((s) => s.loadError);
  const range = useCleanPointStore((s) => s.range);
  const starting = useCleanPointStore((s) => s.starting);
  const startedTaskId = useCleanPointStore((s) => s.startedTaskId);
  const { setRange, refresh, testCheckpoint, close } = useCleanPointStore.getState();
  const failoverMap = useRecoveryStore((s) => s.failovers);
  const openWizard = useRecoveryStore((s) => s.openWizard);
  const search = useMemo(() => cleanPointSearch(checkpoints, range), [checkpoints, range]);
  const failovers = useMemo(() => failoverList(failoverMap), [failoverMap]);
  const active = activeFailover(failovers, vpg.vpgId);
  const latest = failovers.find((f) => f.vpgId === vpg.vpgId);
  // Read from the failovers themselves (a reload of the list reports none one by one).
  const pending =
    starting || (startedTaskId !== undefined && !failovers.some((f) => f.taskId === startedTaskId));
  const recoverySite = siteName(snapshot, vpg.recoverySiteId);
  const blocker = siteConnected(snapshot, vpg.recoverySiteId)
    ? undefined
    : `No agent of the recovery site ${recoverySite} is connected: test failovers run there.`;
  const failOver = (checkpoint: CheckpointInfo): void => {
    close();
    openWizard(vpg.vpgId, { mode: 'live', checkpoint: { kind: 'seq', seq: checkpoint.seq } });
  };

  return (
    <Stack spacing={2.5}>
      <Typography color="text.secondary">
        Test failovers at checkpoints in turn and mark each clean or not: each verdict halves what
        is left. The verdicts are kept on the checkpoints at {recoverySite}, so the search goes on
        from where it stands after a restart, and everyone sees the same one.
      </Typography>
      {loadError && (
        <ErrorAlert
          error={loadError}
          title="Could not load the checkpoints"
          action={
            <Button color="inherit" size="small" onClick={() => void refresh()}>
              Try again
            </Button>
          }
        />
      )}
      <RangePickers checkpoints={checkpoints} range={range} onChange={setRange} />
      <Box sx={{ minHeight: 4 }}>{loading && <LinearProgress aria-label="Loading" />}</Box>
      <ChangeSparkline
        checkpoints={checkpoints}
        range={range}
        candidateSeq={active === undefined ? search.candidate?.seq : active.checkpoint.seq}
        candidateLabel={active === undefined ? 'Test next' : 'Under test'}
      />
      <Facts search={search} />
      {search.contradicted.length > 0 && (
        <Alert severity="warning">
          {pluralize(search.contradicted.length, 'checkpoint')} tested not clean before{' '}
          {checkpointText(search.bounds.clean!)}, which was tested clean (
          {search.contradicted.map(checkpointText).join(', ')}). The search goes by the later clean
          verdict.
        </Alert>
      )}
      {active === undefined && latest?.mode === 'test' && latest.phase === 'Failed' && (
        <Alert severity="error">
          The last test failover of {vpg.name}, at {checkpointLabel(latest)}, failed
          {latest.message ? `: ${latest.message}` : '.'} No verdict was recorded.
        </Alert>
      )}
      <CleanPointStep
        starting={pending}
        search={search}
        active={active}
        blocker={blocker}
        scriptBlocker={checkScriptBlocker(snapshot, vpg.recoverySiteId)}
        onTest={(seq) => void testCheckpoint(vpg, seq)}
        onFailOver={failOver}
      />
      <Verdicts search={search} />
    </Stack>
  );
}

/** Where the search stands, in plain figures. */
function Facts({ search }: { search: CleanPointSearch }) {
  const { clean, notClean } = search.bounds;
  const tile = (label: string, value: string) => (
    <Box
      role="group"
      aria-label={label}
      sx={{
        flex: '1 1 0',
        minWidth: 0,
        border: 1,
        borderColor: 'divider',
        borderRadius: 2,
        p: 1.5,
      }}
    >
      <Typography variant="caption" color="text.secondary">
        {label}
      </Typography>
      <Typography sx={{ fontWeight: 600 }} noWrap title={value}>
        {value}
      </Typography>
    </Box>
  );
  return (
    <Stack direction="row" spacing={1.5}>
      {tile('Last tested clean', clean === undefined ? 'None yet' : checkpointText(clean))}
      {tile(
        'First tested not clean after it',
        notClean === undefined ? 'None yet' : checkpointText(notClean),
      )}
      {tile('Untested between them', String(search.unknown))}
      {tile('Tests left, at most', String(search.testsLeft))}
    </Stack>
  );
}

/** The verdicts the search stands on: the tested checkpoints in the range, newest first. */
function Verdicts({ search }: { search: CleanPointSearch }) {
  const tested = search.checkpoints.filter((c) => c.tested !== undefined).reverse();
  if (tested.length === 0) return null;
  return (
    <Box component="section" aria-label="Verdicts in this range">
      <Typography variant="subtitle2" sx={{ mb: 1 }}>
        Verdicts in this range
      </Typography>
      <Stack spacing={0.75}>
        {tested.map((c) => (
          <Stack
            key={c.seq}
            direction="row"
            spacing={1.5}
            sx={{ alignItems: 'center' }}
            aria-label={`Verdict ${checkpointText(c)}`}
          >
            <Chip
              size="small"
              label={c.tested?.result === 'Passed' ? 'Clean' : 'Not clean'}
              color={c.tested?.result === 'Passed' ? 'success' : 'error'}
              sx={{ minWidth: 84 }}
            />
            <Typography variant="body2" sx={{ fontVariantNumeric: 'tabular-nums' }}>
              {formatSourceTime(c.sourceTime)}
              {c.name !== undefined && ` · ${c.name}`}
            </Typography>
            <Typography variant="body2" color="text.secondary" noWrap sx={{ minWidth: 0 }}>
              tested {new Date(c.tested?.at ?? 0).toLocaleTimeString()}
              {c.tested?.note ? ` — ${c.tested.note}` : ''}
            </Typography>
          </Stack>
        ))}
      </Stack>
    </Box>
  );
}
