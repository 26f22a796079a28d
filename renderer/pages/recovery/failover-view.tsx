import ArrowBack from '@mui/icons-material/ArrowBack';
import CheckCircleOutline from '@mui/icons-material/CheckCircleOutlined';
import StopCircle from '@mui/icons-material/StopCircle';
import Undo from '@mui/icons-material/Undo';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import CircularProgress from '@mui/material/CircularProgress';
import Divider from '@mui/material/Divider';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot } from '../../../app/protocol/console-api';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import { ErrorAlert } from '../../components/error-alert';
import { formatCountdown } from '../../lib/format';
import { siteName } from '../../lib/protection';
import {
  MODE_TEXT,
  PHASE,
  checkpointLabel,
  commitPolicyText,
  failoverActions,
  failoverTasks,
  isActivePhase,
  vmNowLabel,
  vmRows,
} from '../../lib/recovery';
import { useNow } from '../../lib/use-now';
import { useRecoveryStore, type Viewed } from '../../stores/recovery-store';
import { findTask, useTasksStore } from '../../stores/tasks-store';
import { StopTestDialog } from './stop-test-dialog';
import { TaskSteps } from '../../components/tasks/task-steps';

interface Props {
  readonly viewed: Viewed;
  readonly failover: ConsoleFailover | undefined;
  readonly vpgName: string;
  readonly snapshot: EstateSnapshot;
}

/** A failover as it runs: its steps, the VMs coming up in boot order, then commit or roll back. */
export function FailoverView({ viewed, failover, vpgName, snapshot }: Props) {
  const view = useRecoveryStore((s) => s.view);
  const tasks = useTasksStore((s) => s.tasks);
  const starting = viewed.taskId !== undefined ? findTask(tasks, viewed.taskId) : undefined;
  const shownTasks =
    failover === undefined ? (starting ? [starting] : []) : failoverTasks(failover, tasks);

  return (
    <Box>
      <Button startIcon={<ArrowBack />} onClick={() => view(undefined)} sx={{ mb: 1, ml: -1 }}>
        All VPGs
      </Button>
      <Stack direction="row" sx={{ alignItems: 'flex-start', gap: 2, mb: 3 }}>
        <Box sx={{ flex: '1 1 0', minWidth: 0 }}>
          <Typography variant="h1">{failover?.vpgName ?? vpgName}</Typography>
          {failover ? (
            <Typography color="text.secondary">
              {MODE_TEXT[failover.mode].label} at {siteName(snapshot, failover.siteId)} · checkpoint{' '}
              {checkpointLabel(failover)} · started{' '}
              {new Date(failover.startedAt).toLocaleTimeString()}
            </Typography>
          ) : (
            <Typography color="text.secondary">Starting the failover…</Typography>
          )}
        </Box>
        {failover && (
          <Stack direction="row" spacing={1} sx={{ flexShrink: 0 }}>
            <Chip label={MODE_TEXT[failover.mode].label} variant="outlined" />
            <Chip
              role="status"
              aria-label="Phase"
              label={PHASE[failover.phase].label}
              color={PHASE[failover.phase].color}
              data-phase={failover.phase}
              icon={
                isActivePhase(failover.phase) &&
                failover.phase !== 'Testing' &&
                failover.phase !== 'BeforeCommit' ? (
                  <CircularProgress size={14} color="inherit" />
                ) : undefined
              }
            />
          </Stack>
        )}
      </Stack>

      {failover && <ActionBar failover={failover} />}

      <Box
        sx={{
          display: 'grid',
          gap: 3,
          gridTemplateColumns: { xs: '1fr', lg: 'minmax(320px, 5fr) 7fr' },
          alignItems: 'start',
        }}
      >
        <Paper
          component="section"
          aria-label="Steps"
          variant="outlined"
          sx={{ p: 3, borderRadius: 3 }}
        >
          <Typography variant="h2" sx={{ mb: 2 }}>
            Steps
          </Typography>
          {shownTasks.length === 0 ? (
            <Stack direction="row" spacing={1.5} sx={{ alignItems: 'center' }}>
              <CircularProgress size={18} />
              <Typography color="text.secondary">
                Waiting for the recovery site&apos;s agent…
              </Typography>
            </Stack>
          ) : (
            <Stack spacing={3} divider={<Divider flexItem />}>
              {shownTasks.map((task) => (
                <TaskSteps key={task.taskId} task={task} />
              ))}
            </Stack>
          )}
        </Paper>
        {failover ? <VmsCard failover={failover} snapshot={snapshot} /> : <Box />}
      </Box>
      {failover && <StopTestDialog failover={failover} />}
    </Box>
  );
}

/** What the agent is doing while no decision is asked of the admin. */
const BUSY_TEXT: Partial<Record<ConsoleFailover['phase'], string>> = {
  Running:
    'The recovery site is bringing the VMs up: disks at the checkpoint, networks, registration, then power-on by boot group.',
  Committing: 'Committing: the recovered VMs are kept.',
  Promoting:
    'Promoting: the journal is written into the replica disks under the running VMs. They stay up meanwhile.',
  RollingBack:
    'Rolling back: the recovered VMs and the networks this failover created are removed.',
  Stopping: 'Stopping the test: its VMs, scratch data and test networks are removed.',
};

function ActionBar({ failover }: { failover: ConsoleFailover }) {
  const acting = useRecoveryStore((s) => s.acting);
  const error = useRecoveryStore((s) => s.actionError);
  const { commit, rollback, openStopTest, dismissActionError, stopTestOpen } =
    useRecoveryStore.getState();
  const now = useNow(failover.commitDeadline !== undefined);
  const actions = failoverActions(failover);
  const deadline = failover.commitDeadline;

  return (
    <Stack spacing={2} sx={{ mb: 3 }}>
      {BUSY_TEXT[failover.phase] !== undefined && (
        <Alert severity="info" variant="outlined" icon={<CircularProgress size={20} />}>
          {BUSY_TEXT[failover.phase]}
        </Alert>
      )}
      {failover.phase === 'Failed' && (
        <Alert severity="error" variant="outlined">
          The failover failed{failover.message ? `: ${failover.message}` : '.'}
        </Alert>
      )}
      {failover.phase === 'Stopped' && (
        <Alert severity="success" variant="outlined">
          Test stopped: its VMs, scratch data and test networks were removed. The result is recorded
          on the checkpoint.
        </Alert>
      )}
      {failover.phase === 'RolledBack' && (
        <Alert severity="info" variant="outlined">
          Rolled back: the recovered VMs and the networks the failover created were removed, and
          protection resumes.
        </Alert>
      )}
      {failover.phase === 'Committed' && (
        <Alert severity="success" variant="outlined">
          Committed: the VMs run at the recovery site
          {failover.reverseProtection ? ', protected back toward the original site.' : '.'}
        </Alert>
      )}
      {actions.commit && (
        <Paper
          variant="outlined"
          sx={{
            p: 2,
            borderRadius: 3,
            borderColor: 'warning.main',
            bgcolor: 'rgba(199,119,0,0.06)',
          }}
        >
          <Stack direction="row" sx={{ alignItems: 'center', gap: 2 }}>
            <Box sx={{ flex: '1 1 auto', minWidth: 0 }}>
              <Typography sx={{ fontWeight: 700 }}>
                {actions.rollback
                  ? 'The VMs are up. Commit or roll back.'
                  : 'The commit stopped part-way. Commit again to finish it.'}
              </Typography>
              <Typography variant="body2" color="text.secondary">
                {actions.rollback ? (
                  <>
                    Check the applications first. Commit keeps these VMs
                    {failover.reverseProtection
                      ? ' and protects them back to the original site'
                      : ''}
                    ; roll back removes them and resumes protection.{' '}
                    {failover.commitPolicy.kind === 'none'
                      ? 'Nothing happens until you decide.'
                      : `${commitPolicyText(failover.commitPolicy)}${
                          deadline !== undefined ? `: in ${formatCountdown(deadline, now)}` : ''
                        }.`}
                  </>
                ) : (
                  `${failover.message !== undefined ? `${failover.message}. ` : ''}The replica disks already hold recovered data, so this failover can no longer be rolled back.`
                )}
              </Typography>
            </Box>
            {actions.rollback && (
              <Button
                variant="outlined"
                color="inherit"
                sx={{ flexShrink: 0 }}
                startIcon={<Undo />}
                disabled={acting !== undefined}
                onClick={() => void rollback(failover)}
              >
                Roll back
              </Button>
            )}
            <Button
              variant="contained"
              color="success"
              sx={{ flexShrink: 0 }}
              startIcon={<CheckCircleOutline />}
              disabled={acting !== undefined}
              onClick={() => void commit(failover)}
            >
              Commit
            </Button>
          </Stack>
        </Paper>
      )}
      {actions.stopTest && (
        <Paper
          variant="outlined"
          sx={{
            p: 2,
            borderRadius: 3,
            borderColor: 'secondary.main',
            bgcolor: 'rgba(15,139,141,0.06)',
          }}
        >
          <Stack direction="row" sx={{ alignItems: 'center', gap: 2 }}>
            <Box sx={{ flexGrow: 1 }}>
              <Typography sx={{ fontWeight: 700 }}>
                The test VMs are up on isolated networks.
              </Typography>
              <Typography variant="body2" color="text.secondary">
                Protection goes on while the test runs. Check the applications, then stop the test
                and record the result.
              </Typography>
            </Box>
            <Button
              variant="contained"
              color="secondary"
              startIcon={<StopCircle />}
              disabled={acting !== undefined}
              onClick={openStopTest}
            >
              Stop test…
            </Button>
          </Stack>
        </Paper>
      )}
      {error && !stopTestOpen && (
        <ErrorAlert
          error={error}
          title={acting === undefined ? 'The operation was refused' : undefined}
          onClose={dismissActionError}
        />
      )}
    </Stack>
  );
}

function VmsCard({ failover, snapshot }: { failover: ConsoleFailover; snapshot: EstateSnapshot }) {
  const rows = vmRows(failover);
  const registered = new Map(
    snapshot.vms
      .filter((vm) => vm.recoveredFrom?.failoverId === failover.failoverId)
      .map((vm) => [vm.recoveredFrom?.sourceVmId, vm]),
  );
  const ended = !isActivePhase(failover.phase);
  const up = rows.filter((r) => r.poweredOnAt !== undefined).length;
  return (
    <Paper
      component="section"
      aria-label="Recovered VMs"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Stack direction="row" sx={{ alignItems: 'baseline', mb: 2 }}>
        <Typography variant="h2" sx={{ flexGrow: 1 }}>
          VMs
        </Typography>
        <Typography variant="body2" color="text.secondary">
          {ended && failover.phase !== 'Committed'
            ? `${rows.length} VM${rows.length === 1 ? '' : 's'} · removed`
            : `${up} of ${rows.length} powered on · by boot group`}
        </Typography>
      </Stack>
      <Table size="small" aria-label="Recovered VMs">
        <TableHead>
          <TableRow>
            <TableCell>Boot group</TableCell>
            <TableCell>VM</TableCell>
            <TableCell>Networks</TableCell>
            <TableCell>Powered on</TableCell>
            <TableCell>Now</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.length === 0 && (
            <TableRow>
              <TableCell colSpan={5}>
                <Typography variant="body2" color="text.secondary" sx={{ py: 1 }}>
                  The VMs are listed once the recovery site has read the VPG&apos;s metadata.
                </Typography>
              </TableCell>
            </TableRow>
          )}
          {rows.map((row) => {
            const vm = registered.get(row.key);
            const now = vmNowLabel(row, vm?.powerState, ended);
            return (
              <TableRow
                key={row.key}
                aria-label={`VM ${row.name}`}
                data-powered={row.poweredOnAt !== undefined}
              >
                <TableCell>
                  <Chip size="small" label={`Group ${row.bootGroup}`} variant="outlined" />
                </TableCell>
                <TableCell sx={{ fontWeight: 600 }}>{row.name}</TableCell>
                <TableCell>{row.networks}</TableCell>
                <TableCell sx={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>
                  {row.poweredOnAt === undefined ? (
                    <Typography variant="body2" color="text.secondary">
                      {ended ? '—' : 'Waiting…'}
                    </Typography>
                  ) : (
                    <>
                      {new Date(row.poweredOnAt).toLocaleTimeString()}
                      <Typography component="span" variant="caption" color="text.secondary">
                        {' '}
                        (+{row.afterSeconds} s)
                      </Typography>
                    </>
                  )}
                </TableCell>
                <TableCell>
                  <Chip
                    size="small"
                    label={now}
                    aria-label={`${row.name} is ${now}`}
                    color={now === 'Running' ? 'success' : 'default'}
                    variant={now === 'Running' ? 'filled' : 'outlined'}
                  />
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
      {failover.networks.length > 0 && (
        <Stack direction="row" spacing={1} sx={{ mt: 2, alignItems: 'center', flexWrap: 'wrap' }}>
          <Typography variant="body2" color="text.secondary">
            Networks
          </Typography>
          {failover.networks.map((n) => (
            <Chip
              key={n.name}
              size="small"
              variant="outlined"
              label={`${n.name} · ${n.created ? 'created by this failover' : 'existing'}`}
            />
          ))}
        </Stack>
      )}
    </Paper>
  );
}
