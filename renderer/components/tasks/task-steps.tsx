import CheckCircle from '@mui/icons-material/CheckCircle';
import ErrorOutline from '@mui/icons-material/ErrorOutlined';
import RadioButtonUnchecked from '@mui/icons-material/RadioButtonUnchecked';
import RemoveCircleOutline from '@mui/icons-material/RemoveCircleOutlined';
import Box from '@mui/material/Box';
import CircularProgress from '@mui/material/CircularProgress';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { ProtectionTask } from '../../../app/protocol/console-api';
import { taskOutcomeText, taskTypeText } from '../../../app/task/task-text';
import { stepRows, taskPercent, type StepState } from '../../lib/recovery';

const ICON: Record<StepState, React.ReactNode> = {
  pending: <RadioButtonUnchecked fontSize="small" sx={{ color: 'text.disabled' }} />,
  running: <CircularProgress size={18} thickness={5} />,
  done: <CheckCircle fontSize="small" color="success" />,
  failed: <ErrorOutline fontSize="small" color="error" />,
  skipped: <RemoveCircleOutline fontSize="small" sx={{ color: 'text.disabled' }} />,
};

const BAR: Record<StepState, 'primary' | 'success' | 'error' | 'inherit'> = {
  pending: 'inherit',
  running: 'primary',
  done: 'success',
  failed: 'error',
  skipped: 'inherit',
};

/** One task's steps, a progress bar each (list items named by step, for the admin and tests). */
export function TaskSteps({ task }: { task: ProtectionTask }) {
  const rows = stepRows(task);
  const title = taskTypeText(task.type);
  return (
    <Box component="section" aria-label={`${title} steps`}>
      <Stack direction="row" sx={{ alignItems: 'baseline', mb: 1 }}>
        <Typography variant="subtitle2" sx={{ flexGrow: 1 }}>
          {title}
        </Typography>
        <Typography
          variant="body2"
          color="text.secondary"
          sx={{ fontVariantNumeric: 'tabular-nums' }}
        >
          {task.status === 'Active' || task.status === 'Running'
            ? `${taskPercent(task)} %`
            : taskOutcomeText(task)}
        </Typography>
      </Stack>
      <Box component="ol" sx={{ listStyle: 'none', m: 0, p: 0 }} aria-label={`${title} steps`}>
        {rows.map((row) => (
          <Box
            component="li"
            key={row.name}
            aria-label={`Step ${row.name}`}
            data-state={row.state}
            sx={{
              display: 'grid',
              gridTemplateColumns: '24px 1fr 56px',
              alignItems: 'center',
              columnGap: 1.5,
              py: 0.75,
            }}
          >
            <Box sx={{ display: 'grid', placeItems: 'center' }}>{ICON[row.state]}</Box>
            <Box>
              <Typography
                variant="body2"
                sx={{
                  fontWeight: row.state === 'running' ? 700 : 500,
                  color:
                    row.state === 'pending' || row.state === 'skipped'
                      ? 'text.secondary'
                      : 'text.primary',
                }}
              >
                {row.name}
                {row.state === 'skipped' && ' (skipped)'}
              </Typography>
              <LinearProgress
                variant="determinate"
                value={row.percent}
                color={BAR[row.state]}
                aria-label={`${row.name} progress`}
                sx={{ mt: 0.5, height: 6, borderRadius: 3, bgcolor: 'action.hover' }}
              />
            </Box>
            <Typography
              variant="caption"
              color="text.secondary"
              sx={{ textAlign: 'right', fontVariantNumeric: 'tabular-nums' }}
            >
              {row.percent} %
            </Typography>
          </Box>
        ))}
      </Box>
      {task.exception !== undefined && (
        <Typography variant="body2" color="error" sx={{ mt: 1 }}>
          {task.exception}
        </Typography>
      )}
    </Box>
  );
}
