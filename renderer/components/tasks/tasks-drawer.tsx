import ExpandLess from '@mui/icons-material/ExpandLess';
import ExpandMore from '@mui/icons-material/ExpandMore';
import PlaylistPlay from '@mui/icons-material/PlaylistPlay';
import Box from '@mui/material/Box';
import ButtonBase from '@mui/material/ButtonBase';
import IconButton from '@mui/material/IconButton';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { KeyboardEvent, PointerEvent } from 'react';
import { useMemo } from 'react';
import { taskTypeText } from '../../../app/task/task-text';
import { taskPercent } from '../../lib/recovery';
import { isTaskRunning, newestFirst, runningCount, type TaskMap } from '../../lib/task-list';
import { useEstateStore } from '../../stores/estate-store';
import { DRAWER_MIN_HEIGHT, useTasksStore } from '../../stores/tasks-store';
import { navy, teal } from '../../theme';
import { ErrorAlert } from '../error-alert';
import { TaskDetailsDialog } from './task-details-dialog';
import { TaskFilterBar } from './task-filter-bar';
import { TasksTable } from './tasks-table';

/** The collapsed bar's height: the page keeps this much room free at its foot. */
export const TASK_BAR_HEIGHT = 40;

/**
 * The tasks of every connected agent along the bottom of every page, as in Proxmox VE: a bar
 * "Tasks · N running" that opens into a resizable panel with the task table and its filter;
 * a row opens the task's details.
 */
export function TasksDrawer({ left }: { readonly left: number }) {
  const open = useTasksStore((s) => s.open);
  const height = useTasksStore((s) => s.height);
  const tasks = useTasksStore((s) => s.tasks);
  const filter = useTasksStore((s) => s.filter);
  const selectedKey = useTasksStore((s) => s.selectedKey);
  const loadError = useTasksStore((s) => s.loadError);
  const setOpen = useTasksStore((s) => s.setOpen);
  const setFilter = useTasksStore((s) => s.setFilter);
  const select = useTasksStore((s) => s.select);
  const load = useTasksStore((s) => s.load);
  const snapshot = useEstateStore((s) => s.snapshot);
  const running = useMemo(() => runningCount(tasks), [tasks]);
  const selected = selectedKey === undefined ? undefined : tasks[selectedKey];

  return (
    <>
      <Paper
        component="section"
        aria-label="Tasks"
        square
        sx={{
          position: 'fixed',
          left,
          right: 0,
          bottom: 0,
          height: open ? height : TASK_BAR_HEIGHT,
          zIndex: (t) => t.zIndex.appBar,
          display: 'flex',
          flexDirection: 'column',
          borderTop: 1,
          borderColor: 'divider',
          boxShadow: open ? '0 -6px 20px rgba(11, 31, 54, 0.14)' : 'none',
        }}
      >
        {open && <ResizeHandle height={height} />}
        <Stack
          direction="row"
          sx={{
            height: TASK_BAR_HEIGHT,
            flexShrink: 0,
            alignItems: 'center',
            bgcolor: navy[800],
            color: 'common.white',
            pr: 1,
          }}
        >
          <ButtonBase
            onClick={() => setOpen(!open)}
            aria-expanded={open}
            aria-label={`Tasks · ${running} running`}
            sx={{ height: '100%', px: 2, gap: 1.25, justifyContent: 'flex-start', flexGrow: 1 }}
          >
            <PlaylistPlay sx={{ color: teal[500] }} />
            <Typography variant="subtitle2" component="span">
              Tasks
            </Typography>
            <Box
              component="span"
              data-testid="tasks-running"
              sx={{
                px: 1,
                py: 0.125,
                borderRadius: 3,
                fontSize: '0.75rem',
                fontWeight: 700,
                bgcolor: running > 0 ? teal[600] : 'rgba(255,255,255,0.12)',
              }}
            >
              {running} running
            </Box>
            <LatestRunning tasks={tasks} />
          </ButtonBase>
          <IconButton
            size="small"
            onClick={() => setOpen(!open)}
            aria-label={open ? 'Close the tasks panel' : 'Open the tasks panel'}
            sx={{ color: 'inherit' }}
          >
            {open ? <ExpandMore /> : <ExpandLess />}
          </IconButton>
        </Stack>
        {open && (
          <>
            <Box sx={{ px: 2, py: 1, borderBottom: 1, borderColor: 'divider', flexShrink: 0 }}>
              <TaskFilterBar label="Filter tasks" filter={filter} onChange={setFilter} />
            </Box>
            {loadError && (
              <ErrorAlert
                error={loadError}
                title="Could not load the agents' tasks"
                onClose={() => void load()}
                sx={{ m: 1, flexShrink: 0 }}
              />
            )}
            <Box sx={{ flex: '1 1 0', minHeight: 0, overflow: 'auto' }}>
              <TasksTable
                tasks={tasks}
                filter={filter}
                snapshot={snapshot}
                label="Tasks of the connected agents"
                selectedKey={selectedKey}
                onOpen={select}
                empty={
                  Object.keys(tasks).length === 0
                    ? 'No tasks yet: syncs, exports and failovers show here as they run.'
                    : 'No task matches the filter.'
                }
              />
            </Box>
          </>
        )}
      </Paper>
      <TaskDetailsDialog task={selected} snapshot={snapshot} />
    </>
  );
}

/** Room at the foot of the page for the bar or the open panel, so neither covers content. */
export function TasksDrawerSpacer() {
  const open = useTasksStore((s) => s.open);
  const height = useTasksStore((s) => s.height);
  return <Box aria-hidden sx={{ height: open ? height : TASK_BAR_HEIGHT }} />;
}

/** The newest running task, in words, beside the count ("Initial sync · Payroll 42 %"). */
function LatestRunning({ tasks }: { tasks: TaskMap }) {
  const snapshot = useEstateStore((s) => s.snapshot);
  const latest = useMemo(
    () => Object.values(tasks).filter(isTaskRunning).sort(newestFirst)[0],
    [tasks],
  );
  if (latest === undefined) return null;
  const vpg = snapshot?.vpgs.find((v) => v.vpgId === latest.vpgId)?.name;
  return (
    <Typography
      variant="body2"
      component="span"
      noWrap
      sx={{ color: 'rgba(255,255,255,0.75)', ml: 1 }}
    >
      {taskTypeText(latest.type)}
      {vpg === undefined ? '' : ` · ${vpg}`} {taskPercent(latest)} %
    </Typography>
  );
}

/** Drag (or arrow keys) to resize the open panel; it keeps a minimum and leaves room above. */
function ResizeHandle({ height }: { height: number }) {
  const setHeight = useTasksStore((s) => s.setHeight);
  const clamp = (h: number): number => Math.min(h, Math.round(window.innerHeight * 0.85));
  const onPointerDown = (e: PointerEvent<HTMLDivElement>): void => {
    e.preventDefault();
    const target = e.currentTarget;
    target.setPointerCapture(e.pointerId);
    const move = (ev: globalThis.PointerEvent): void =>
      setHeight(clamp(window.innerHeight - ev.clientY));
    const up = (): void => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>): void => {
    if (e.key === 'ArrowUp') setHeight(clamp(height + 24));
    else if (e.key === 'ArrowDown') setHeight(height - 24);
    else return;
    e.preventDefault();
  };
  return (
    <Box
      role="separator"
      aria-orientation="horizontal"
      aria-label="Resize the tasks panel"
      aria-valuenow={height}
      aria-valuemin={DRAWER_MIN_HEIGHT}
      tabIndex={0}
      onPointerDown={onPointerDown}
      onKeyDown={onKeyDown}
      sx={{
        position: 'absolute',
        top: -3,
        left: 0,
        right: 0,
        height: 6,
        cursor: 'ns-resize',
        zIndex: 1,
        '&:hover, &:focus-visible': { bgcolor: teal[500], outline: 'none' },
      }}
    />
  );
}
