import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useEffect, useState } from 'react';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { TaskFilterBar } from '../../../components/tasks/task-filter-bar';
import { TasksTable } from '../../../components/tasks/tasks-table';
import { ALL_TASKS, type TaskFilter } from '../../../lib/task-list';
import { useTasksStore } from '../../../stores/tasks-store';

interface Props {
  readonly vpgId: string;
  readonly snapshot: EstateSnapshot;
}

/**
 * The VPG's tasks at both its sites (syncs at the protected one, failovers at the recovery
 * one), newest first: the drawer's table narrowed to the VPG, with a filter of its own.
 */
export function TaskHistoryCard({ vpgId, snapshot }: Props) {
  const tasks = useTasksStore((s) => s.tasks);
  const selectedKey = useTasksStore((s) => s.selectedKey);
  const select = useTasksStore((s) => s.select);
  const loadVpg = useTasksStore((s) => s.loadVpg);
  const [filter, setFilter] = useState<TaskFilter>(ALL_TASKS);
  // The drawer loads the newest tasks of all VPGs; this VPG's older ones come with its page.
  useEffect(() => void loadVpg(vpgId), [loadVpg, vpgId]);

  return (
    <Paper
      component="section"
      aria-label="Task history"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Stack direction="row" sx={{ alignItems: 'center', mb: 2, gap: 2, flexWrap: 'wrap' }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h2">Task history</Typography>
          <Typography variant="body2" color="text.secondary">
            Syncs and failovers of this VPG at both its sites; a row shows the task’s steps
          </Typography>
        </Box>
        <TaskFilterBar
          label="Filter the VPG’s tasks"
          filter={filter}
          onChange={(patch) => setFilter((f) => ({ ...f, ...patch }))}
        />
      </Stack>
      <Box
        sx={{
          border: 1,
          borderColor: 'divider',
          borderRadius: 2,
          maxHeight: 420,
          overflow: 'auto',
        }}
      >
        <TasksTable
          tasks={tasks}
          filter={filter}
          snapshot={snapshot}
          vpgId={vpgId}
          label="Task history"
          selectedKey={selectedKey}
          onOpen={select}
          empty="No task of this VPG matches."
        />
      </Box>
    </Paper>
  );
}
