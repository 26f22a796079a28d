import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import Typography from '@mui/material/Typography';
import { syncTaskText } from '../../lib/tasks';
import { useTasksStore } from '../../stores/tasks-store';

/** The VPG's running initial sync or resync (its task): a bar, the percentage and the ETA. */
export function SyncProgress({ vpgId, vpgName }: { vpgId: string; vpgName: string }) {
  const task = useTasksStore((s) => s.syncTasks[vpgId]);
  if (task === undefined) return null;
  const text = syncTaskText(task);
  return (
    <Box sx={{ mt: 0.75, minWidth: 160 }}>
      <LinearProgress
        variant={task.status === 'Active' ? 'indeterminate' : 'determinate'}
        value={Math.round(task.progress * 100)}
        aria-label={`${text} (${vpgName})`}
        sx={{ height: 6, borderRadius: 3 }}
      />
      <Typography variant="caption" color="text.secondary" sx={{ display: 'block', mt: 0.25 }}>
        {text}
      </Typography>
    </Box>
  );
}
