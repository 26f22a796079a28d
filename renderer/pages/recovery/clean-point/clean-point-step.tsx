import CheckCircle from '@mui/icons-material/CheckCircle';
import Cancel from '@mui/icons-material/Cancel';
import PlayCircleOutline from '@mui/icons-material/PlayCircleOutlined';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import CircularProgress from '@mui/material/CircularProgress';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormHelperText from '@mui/material/FormHelperText';
import LinearProgress from '@mui/material/LinearProgress';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState, type ReactNode } from 'react';
import type { ConsoleFailover } from '../../../../app/protocol/console-recovery-api';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { changeTotals, type CleanPointSearch } from '../../../../app/recovery/clean-point';
import { ErrorAlert } from '../../../components/error-alert';
import { changeText, checkpointText } from '../../../lib/clean-point';
import { formatSourceTime } from '../../../lib/protection';
import { MODE_TEXT, PHASE, stepRows, taskPercent, vmRows } from '../../../lib/recovery';
import { useCleanPointStore } from '../../../stores/clean-point-store';
import { useRecoveryStore } from '../../../stores/recovery-store';
import { findTask, useTasksStore } from '../../../stores/tasks-store';

interface Props {
  readonly search: CleanPointSearch;
  /** The VPG's failover under way, if any. */
  readonly active: ConsoleFailover | undefined;
  /** Why no test can start now (the recovery site's agents), or undefined. */
  readonly blocker: string | undefined;
  /** Why a check script cannot run in the test VMs. */
  readonly scriptBlocker: string | undefined;
  /** A test was asked for and its failover is not reported yet. */
  readonly starting: boolean;
  onTest(seq: number): void;
  onFailOver(checkpoint: CheckpointInfo): void;
}

/** What to do now: test the candidate, follow the test, give the verdict, or the answer. */
export function CleanPointStep(props: Props) {
  const { search, active, starting } = props;
  if (active !== undefined && active.mode === 'test') return <TestUnderWay failover={active} />;
  if (active !== undefined) {
    return (
      <Alert severity="warning">
        A {MODE_TEXT[active.mode].label.toLowerCase()} of this VPG is under way (
        {PHASE[active.phase].label}): tests can start once it has ended.
      </Alert>
    );
  }
  if (starting) {
    return (
      <StepCard title="Starting the test failover…">
        <LinearProgress aria-label="Starting the test" />
      </StepCard>
    );
  }
  if (search.done !== undefined) return <Answer {...props} />;
  return <Candidate {...props} />;
}

function StepCard({
  title,
  children,
  tone = 'primary.main',
}: {
  title: string;
  children: ReactNode;
  tone?: string;
}) {
  return (
    <Paper
      variant="outlined"
      component="section"
      aria-label={title}
      sx={{ p: 2.5, borderRadius: 3, borderColor: tone, borderWidth: 2 }}
    >
      <Typography sx={{ fontWeight: 700, mb: 1 }}>{title}</Typography>
      {children}
    </Paper>
  );
}

function Candidate({ search, blocker, scriptBlocker, onTest }: Props) {
  const startError = useCleanPointStore((s) => s.startError);
  const candidate = search.candidate;
  if (candidate === undefined) return null;
  const figures = changeText(candidate);
  const rise = search.rise;
  const turned = rise === undefined ? 0 : (changeTotals(rise)?.turnedHighBlocks ?? 0);
  return (
    <StepCard title={`Test next: ${checkpointText(candidate)}`}>
      <Box aria-label="Candidate" data-seq={candidate.seq}>
        <Typography variant="body2">
          {formatSourceTime(candidate.sourceTime)}
          {candidate.name !== undefined && ` · named “${candidate.name}”`}
        </Typography>
        <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
          {search.reason === 'signal' && rise !== undefined
            ? `Chosen near where turned-high blocks rise (${turned.toLocaleString()} at ${checkpointText(rise)}), as close to just before it as keeps the search within ${search.testsLeft} tests.`
            : `The middle of the ${search.unknown} untested checkpoints between the bounds.`}
        </Typography>
        <Typography variant="body2" color="text.secondary">
          {figures ?? 'No change figures for this checkpoint.'}
        </Typography>
      </Box>
      <Stack direction="row" spacing={2} sx={{ mt: 2, alignItems: 'flex-start' }}>
        <Button
          variant="contained"
          color="secondary"
          startIcon={<PlayCircleOutline />}
          disabled={blocker !== undefined}
          title={blocker}
          onClick={() => onTest(candidate.seq)}
          sx={{ flexShrink: 0 }}
        >
          Test this checkpoint
        </Button>
        <Box>
          <FormControlLabel
            disabled={scriptBlocker !== undefined}
            control={<Checkbox size="small" />}
            label="Run a check script in the test VMs"
          />
          {scriptBlocker !== undefined && (
            <FormHelperText sx={{ mt: -0.5 }}>{scriptBlocker}</FormHelperText>
          )}
        </Box>
      </Stack>
      {blocker !== undefined && (
        <Alert severity="warning" sx={{ mt: 2 }}>
          {blocker}
        </Alert>
      )}
      {startError && (
        <ErrorAlert error={startError} title="The test did not start" sx={{ mt: 2 }} />
      )}
    </StepCard>
  );
}

/** A test of the VPG: followed until its VMs are up, then the admin's verdict. */
function TestUnderWay({ failover }: { failover: ConsoleFailover }) {
  const tasks = useTasksStore((s) => s.tasks);
  const acting = useRecoveryStore((s) => s.acting);
  const actionError = useRecoveryStore((s) => s.actionError);
  const verdict = useCleanPointStore((s) => s.verdict);
  const [note, setNote] = useState('');
  const at = checkpointText({
    name: failover.checkpoint.name,
    sourceTime: failover.checkpoint.sourceTime,
  });
  if (failover.phase !== 'Testing') {
    const task = findTask(tasks, failover.taskId);
    const running = stepRows(task).find((r) => r.state === 'running');
    return (
      <StepCard title={`Testing ${at}: ${PHASE[failover.phase].label.toLowerCase()}…`}>
        <LinearProgress
          variant={task === undefined ? 'indeterminate' : 'determinate'}
          value={task === undefined ? 0 : taskPercent(task)}
          aria-label="Test progress"
        />
        <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
          {failover.phase === 'Stopping'
            ? 'Recording the verdict on the checkpoint and removing the test VMs.'
            : (running?.name ?? 'The recovery site is bringing the test VMs up.')}
        </Typography>
      </StepCard>
    );
  }
  const rows = vmRows(failover);
  return (
    <StepCard title={`The test VMs of ${at} are up`} tone="secondary.main">
      <Typography variant="body2" sx={{ mb: 1 }}>
        Check them on their isolated test networks — log in, open the data, look for encrypted files
        or ransom notes — then give your verdict. It is recorded on the checkpoint and the test VMs
        are removed.
      </Typography>
      <Box component="ul" aria-label="Test VMs" sx={{ m: 0, pl: 2.5, mb: 2 }}>
        {rows.map((vm) => (
          <Typography component="li" variant="body2" key={vm.key}>
            <strong>{vm.name}</strong> · {vm.networks}
          </Typography>
        ))}
      </Box>
      <TextField
        label="Note (optional)"
        value={note}
        onChange={(e) => setNote(e.target.value)}
        fullWidth
        size="small"
        slotProps={{ htmlInput: { maxLength: 500 } }}
        placeholder="What you checked, e.g. “file share opens, no .locked files”"
      />
      <Stack direction="row" spacing={2} sx={{ mt: 2, alignItems: 'center' }}>
        <Button
          variant="contained"
          color="success"
          startIcon={acting === 'stopTest' ? <CircularProgress size={16} /> : <CheckCircle />}
          disabled={acting !== undefined}
          onClick={() => void verdict(failover, true, note)}
        >
          Clean
        </Button>
        <Button
          variant="contained"
          color="error"
          startIcon={<Cancel />}
          disabled={acting !== undefined}
          onClick={() => void verdict(failover, false, note)}
        >
          Not clean
        </Button>
      </Stack>
      {actionError && (
        <ErrorAlert error={actionError} title="Could not stop the test" sx={{ mt: 2 }} />
      )}
    </StepCard>
  );
}

function Answer({ search, blocker, onFailOver }: Props) {
  const lastClean = search.done?.lastClean;
  const notClean = search.bounds.notClean;
  if (lastClean === undefined) {
    return (
      <Alert severity="warning" role="status" aria-label="Answer">
        <AlertTitle>No checkpoint in this range tested clean</AlertTitle>
        {notClean !== undefined &&
          `The oldest one searched, ${checkpointText(notClean)}, was not clean. `}
        Widen the range to older checkpoints, if the journal still holds any.
      </Alert>
    );
  }
  const testedAt = new Date(lastClean.tested?.at ?? 0).toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'short',
  });
  return (
    <Alert
      severity="success"
      role="status"
      aria-label="Answer"
      data-seq={lastClean.seq}
      action={
        <Button
          variant="contained"
          color="error"
          disabled={blocker !== undefined}
          onClick={() => onFailOver(lastClean)}
          sx={{ whiteSpace: 'nowrap', alignSelf: 'center' }}
        >
          Fail over to it…
        </Button>
      }
    >
      <AlertTitle>
        Last clean checkpoint: {formatSourceTime(lastClean.sourceTime)}
        {lastClean.name !== undefined && ` (${lastClean.name})`}
      </AlertTitle>
      Tested {testedAt}
      {lastClean.tested?.note ? ` — “${lastClean.tested.note}”` : ''}.{' '}
      {notClean !== undefined
        ? `The next checkpoint, ${checkpointText(notClean)}, was tested not clean.`
        : 'No later checkpoint in the range was tested not clean: it is the newest one searched.'}
    </Alert>
  );
}
