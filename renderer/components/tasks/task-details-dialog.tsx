import StopCircle from '@mui/icons-material/StopCircleOutlined';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useId } from 'react';
import type { EstateSnapshot, ProtectionTask } from '../../../app/protocol/console-api';
import { taskTypeText } from '../../../app/task/task-text';
import { formatSize, siteName } from '../../lib/protection';
import { isTaskRunning, taskDurationText, taskState } from '../../lib/task-list';
import { useNow } from '../../lib/use-now';
import { useTasksStore } from '../../stores/tasks-store';
import { monoFontFamily } from '../../theme';
import { ErrorAlert } from '../error-alert';
import { TaskSteps } from './task-steps';

interface Props {
  readonly task: ProtectionTask | undefined;
  readonly snapshot: EstateSnapshot | undefined;
}

/** One task: facts, steps, what it was asked and produced, why it failed, and Abort. */
export function TaskDetailsDialog({ task, snapshot }: Props) {
  const select = useTasksStore((s) => s.select);
  const abort = useTasksStore((s) => s.abort);
  const aborting = useTasksStore((s) => s.aborting);
  const abortError = useTasksStore((s) => s.abortError);
  const dismissAbortError = useTasksStore((s) => s.dismissAbortError);
  const running = task !== undefined && isTaskRunning(task);
  const now = useNow(running);
  const labelId = useId();
  if (task === undefined) return null;

  const type = taskTypeText(task.type);
  const vpg = snapshot?.vpgs.find((v) => v.vpgId === task.vpgId);
  const agent = snapshot?.agents.find((a) => a.key === task.agentKey);
  const state = taskState(task);
  const title = `${type}${vpg === undefined ? '' : ` · ${vpg.name}`}`;
  const units =
    task.totalUnits === undefined
      ? undefined
      : `${formatSize(task.doneUnits ?? 0)} of ${formatSize(task.totalUnits)}`;
  const facts: [string, string][] = [
    ['Site', siteName(snapshot, task.siteId)],
    ['Agent', agent?.identity?.hostName ?? agent?.address ?? task.agentKey],
    ['Started', new Date(task.startedAt).toLocaleString()],
    ['Ended', task.endedAt === undefined ? '—' : new Date(task.endedAt).toLocaleString()],
    ['Duration', taskDurationText(task, now)],
    ...(units === undefined ? [] : [['Done', units] as [string, string]]),
    ['Task id', task.taskId],
  ];

  return (
    <Dialog
      open
      onClose={() => select(undefined)}
      maxWidth="md"
      fullWidth
      aria-labelledby={labelId}
    >
      <Box component="span" id={labelId} sx={visuallyHidden}>
        Task {type}
        {vpg === undefined ? '' : ` ${vpg.name}`}
      </Box>
      <DialogTitle component="div">
        <Stack direction="row" sx={{ alignItems: 'center', gap: 1.5 }}>
          <Typography variant="h2" component="h2" sx={{ flexGrow: 1 }}>
            {title}
          </Typography>
          <Chip label={state.label} color={state.color} data-testid="task-state" />
        </Stack>
      </DialogTitle>
      <DialogContent dividers>
        <Stack spacing={2.5}>
          <Box
            component="dl"
            sx={{
              display: 'grid',
              gridTemplateColumns: 'max-content 1fr max-content 1fr',
              columnGap: 2,
              rowGap: 0.75,
              m: 0,
              '& dt': { color: 'text.secondary', fontSize: '0.85rem' },
              '& dd': { m: 0, fontSize: '0.9rem', fontVariantNumeric: 'tabular-nums' },
            }}
          >
            {facts.map(([term, value]) => (
              <Box key={term} sx={{ display: 'contents' }}>
                <dt>{term}</dt>
                <dd>{value}</dd>
              </Box>
            ))}
          </Box>
          {task.exception !== undefined && (
            <Alert severity={state.color === 'error' ? 'error' : 'warning'} role="alert">
              <AlertTitle>
                {task.status === 'Aborted' ? 'Why it was aborted' : 'Why it did not complete'}
              </AlertTitle>
              <Box component="span" data-testid="task-exception">
                {task.exception}
              </Box>
            </Alert>
          )}
          {task.steps.length > 0 && <TaskSteps task={task} />}
          <Parameters title="Input" values={task.input} />
          {task.result !== undefined && <Parameters title="Result" values={task.result} />}
          {abortError && (
            <ErrorAlert
              error={abortError}
              title="The agent did not abort the task"
              onClose={dismissAbortError}
            />
          )}
          {running && !task.abortable && (
            <Typography variant="body2" color="text.secondary">
              The agent cannot stop a {type.toLowerCase()} safely: it ends by itself.
            </Typography>
          )}
        </Stack>
      </DialogContent>
      <DialogActions>
        {running && task.abortable && (
          <Button
            color="error"
            variant="outlined"
            startIcon={<StopCircle />}
            disabled={aborting}
            onClick={() => void abort(task)}
            sx={{ mr: 'auto' }}
          >
            {aborting ? 'Aborting…' : 'Abort task'}
          </Button>
        )}
        <Button onClick={() => select(undefined)}>Close</Button>
      </DialogActions>
    </Dialog>
  );
}

/** Read by screen readers (the dialog's name), not shown. */
const visuallyHidden = {
  position: 'absolute',
  width: 1,
  height: 1,
  overflow: 'hidden',
  clip: 'rect(0 0 0 0)',
  whiteSpace: 'nowrap',
} as const;

/** A task's input or result: each field and its value (objects as JSON). */
function Parameters({ title, values }: { title: string; values: Record<string, unknown> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return (
    <Box component="section" aria-label={title}>
      <Typography variant="subtitle2" sx={{ mb: 0.5 }}>
        {title}
      </Typography>
      <Box
        component="dl"
        sx={{
          display: 'grid',
          gridTemplateColumns: 'max-content 1fr',
          columnGap: 2,
          rowGap: 0.25,
          m: 0,
          p: 1.5,
          bgcolor: 'background.default',
          borderRadius: 1,
          fontFamily: monoFontFamily,
          fontSize: '0.8rem',
          '& dt': { color: 'text.secondary' },
          '& dd': { m: 0, overflowWrap: 'anywhere' },
        }}
      >
        {entries.map(([key, value]) => (
          <Box key={key} sx={{ display: 'contents' }}>
            <dt>{key}</dt>
            <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
          </Box>
        ))}
      </Box>
    </Box>
  );
}
