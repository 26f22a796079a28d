import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import LinearProgress from '@mui/material/LinearProgress';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { memo, useMemo } from 'react';
import type { EstateSnapshot, ProtectionTask } from '../../../app/protocol/console-api';
import { taskTypeText } from '../../../app/task/task-text';
import { siteName, type ChipColor } from '../../lib/protection';
import { taskPercent } from '../../lib/recovery';
import {
  filterTasks,
  isTaskRunning,
  taskDurationText,
  taskKey,
  taskStartedText,
  taskState,
  type TaskFilter,
  type TaskMap,
  type TaskNames,
} from '../../lib/task-list';
import { useNow } from '../../lib/use-now';

/** Rows drawn at most: past that the admin narrows the filter (a row each is cheap, 10 000 is not). */
export const MAX_ROWS = 200;

interface Props {
  readonly tasks: TaskMap;
  readonly filter: TaskFilter;
  readonly snapshot: EstateSnapshot | undefined;
  /** One VPG's tasks only (its page): the VPG column is left out. */
  readonly vpgId?: string;
  readonly label: string;
  readonly selectedKey: string | undefined;
  readonly onOpen: (key: string) => void;
  /** Shown when no task matches. */
  readonly empty: string;
}

/** The names a row shows, from the estate (a VPG or site it no longer knows shows its id). */
export function estateNames(snapshot: EstateSnapshot | undefined): TaskNames {
  const vpgs = new Map(snapshot?.vpgs.map((v) => [v.vpgId, v.name]));
  return { vpg: (id) => vpgs.get(id), site: (id) => siteName(snapshot, id) };
}

/**
 * Tasks newest first: type, VPG, site, state, progress, started, duration (ticking while
 * it runs). One table for the tasks drawer and a VPG's task history.
 */
export function TasksTable(props: Props) {
  const { tasks, filter, snapshot, vpgId, label, selectedKey, onOpen, empty } = props;
  const names = useMemo(() => estateNames(snapshot), [snapshot]);
  const rows = useMemo(
    () => filterTasks(tasks, filter, names, vpgId),
    [tasks, filter, names, vpgId],
  );
  const shown = rows.length > MAX_ROWS ? rows.slice(0, MAX_ROWS) : rows;
  const anyRunning = shown.some(isTaskRunning);
  const now = useNow(anyRunning);
  const withVpg = vpgId === undefined;
  const columns = withVpg ? 7 : 6;

  return (
    <Table size="small" stickyHeader aria-label={label} sx={{ tableLayout: 'fixed' }}>
      <TableHead>
        <TableRow>
          <TableCell sx={{ width: '18%' }}>Task</TableCell>
          {withVpg && <TableCell sx={{ width: '16%' }}>VPG</TableCell>}
          <TableCell sx={{ width: '14%' }}>Site</TableCell>
          <TableCell sx={{ width: 170 }}>State</TableCell>
          <TableCell>Progress</TableCell>
          <TableCell sx={{ width: 120 }}>Started</TableCell>
          <TableCell sx={{ width: 110 }} align="right">
            Duration
          </TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {shown.length === 0 && (
          <TableRow>
            <TableCell colSpan={columns}>
              <Typography variant="body2" color="text.secondary" sx={{ py: 1 }}>
                {empty}
              </Typography>
            </TableCell>
          </TableRow>
        )}
        {shown.map((task) => {
          const key = taskKey(task);
          return (
            <TaskRow
              key={key}
              rowKey={key}
              task={task}
              vpgName={withVpg ? vpgLabel(task, names) : undefined}
              site={names.site(task.siteId)}
              // Ended rows get a fixed `now` so they are not drawn again each second.
              now={isTaskRunning(task) ? now : 0}
              selected={key === selectedKey}
              onOpen={onOpen}
            />
          );
        })}
        {rows.length > shown.length && (
          <TableRow>
            <TableCell colSpan={columns}>
              <Typography variant="body2" color="text.secondary">
                The newest {shown.length} of {rows.length} tasks; narrow the filter to see others.
              </Typography>
            </TableCell>
          </TableRow>
        )}
      </TableBody>
    </Table>
  );
}

function vpgLabel(task: ProtectionTask, names: TaskNames): string {
  if (task.vpgId === undefined) return '—';
  return names.vpg(task.vpgId) ?? task.vpgId;
}

interface RowProps {
  readonly rowKey: string;
  readonly task: ProtectionTask;
  readonly vpgName: string | undefined;
  readonly site: string;
  readonly now: number;
  readonly selected: boolean;
  readonly onOpen: (key: string) => void;
}

const TaskRow = memo(function TaskRow(props: RowProps) {
  const { rowKey, task, vpgName, site, now, selected, onOpen } = props;
  const type = taskTypeText(task.type);
  const state = taskState(task);
  const running = isTaskRunning(task);
  const percent = taskPercent(task);
  return (
    <TableRow
      hover
      selected={selected}
      aria-label={`Task ${type}${vpgName !== undefined && vpgName !== '—' ? ` ${vpgName}` : ''}`}
      data-state={state.label}
      onClick={() => onOpen(rowKey)}
      sx={{ cursor: 'pointer', '& > td': { py: 0.5 } }}
    >
      <TableCell sx={{ fontWeight: 600, whiteSpace: 'nowrap', overflow: 'hidden' }}>
        <Box
          component="button"
          type="button"
          onClick={(e) => {
            e.stopPropagation();
            onOpen(rowKey);
          }}
          aria-label={`Details of ${type}${vpgName !== undefined && vpgName !== '—' ? ` ${vpgName}` : ''}`}
          sx={{
            all: 'unset',
            cursor: 'pointer',
            '&:focus-visible': { outline: 2, outlineColor: 'primary.main', borderRadius: 0.5 },
          }}
        >
          {type}
        </Box>
      </TableCell>
      {vpgName !== undefined && <TableCell sx={ellipsis}>{vpgName}</TableCell>}
      <TableCell sx={ellipsis}>{site}</TableCell>
      <TableCell>
        <Chip
          size="small"
          label={state.label}
          color={state.color}
          variant={running ? 'filled' : 'outlined'}
          sx={{ maxWidth: '100%' }}
        />
      </TableCell>
      <TableCell>
        <Box sx={{ display: 'flex', alignItems: 'center', gap: 1 }}>
          <LinearProgress
            variant={task.status === 'Active' ? 'indeterminate' : 'determinate'}
            value={percent}
            color={barColor(state.color, running)}
            aria-label={`${type} progress`}
            sx={{ flexGrow: 1, height: 8, borderRadius: 4, bgcolor: 'action.hover' }}
          />
          <Typography
            variant="caption"
            sx={{
              width: 44,
              flexShrink: 0,
              textAlign: 'right',
              whiteSpace: 'nowrap',
              fontVariantNumeric: 'tabular-nums',
            }}
          >
            {percent} %
          </Typography>
        </Box>
      </TableCell>
      <TableCell sx={{ whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' }}>
        {taskStartedText(task.startedAt, now || Date.now())}
      </TableCell>
      <TableCell align="right" sx={{ whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' }}>
        {taskDurationText(task, now)}
      </TableCell>
    </TableRow>
  );
});

function barColor(state: ChipColor, running: boolean): 'primary' | 'success' | 'error' | 'warning' {
  if (running) return 'primary';
  return state === 'error' ? 'error' : state === 'warning' ? 'warning' : 'success';
}

const ellipsis = { whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' } as const;
