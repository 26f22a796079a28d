import Search from '@mui/icons-material/Search';
import InputAdornment from '@mui/material/InputAdornment';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import { TaskTypeSchema, type TaskType } from '../../../app/task/task-schemas';
import { taskTypeText } from '../../../app/task/task-text';
import type { TaskFilter, TaskShow } from '../../lib/task-list';

interface Props {
  /** Names the filter (two may show at once: the drawer's and a VPG page's). */
  readonly label: string;
  readonly filter: TaskFilter;
  readonly onChange: (patch: Partial<TaskFilter>) => void;
}

const SHOW: readonly { value: TaskShow; label: string }[] = [
  { value: 'running', label: 'Running' },
  { value: 'failed', label: 'Failed' },
  { value: 'all', label: 'All' },
];

/** Running / failed / all, a task type, and words to find. */
export function TaskFilterBar({ label, filter, onChange }: Props) {
  return (
    <Stack
      direction="row"
      role="search"
      aria-label={label}
      sx={{ alignItems: 'center', gap: 1.5, flexWrap: 'wrap' }}
    >
      <ToggleButtonGroup
        size="small"
        exclusive
        value={filter.show}
        onChange={(_e, value: TaskShow | null) => {
          if (value !== null) onChange({ show: value });
        }}
        aria-label="Show tasks"
      >
        {SHOW.map((s) => (
          <ToggleButton key={s.value} value={s.value} sx={{ px: 1.5, py: 0.25 }}>
            {s.label}
          </ToggleButton>
        ))}
      </ToggleButtonGroup>
      <TextField
        select
        size="small"
        label="Type"
        value={filter.type}
        onChange={(e) => onChange({ type: e.target.value as TaskType | 'all' })}
        sx={{ minWidth: 170 }}
        slotProps={{ inputLabel: { shrink: true } }}
      >
        <MenuItem value="all">All types</MenuItem>
        {TaskTypeSchema.options.map((type) => (
          <MenuItem key={type} value={type}>
            {taskTypeText(type)}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        size="small"
        label="Find"
        placeholder="VPG, site, state…"
        value={filter.text}
        onChange={(e) => onChange({ text: e.target.value })}
        sx={{ width: 220 }}
        slotProps={{
          inputLabel: { shrink: true },
          input: {
            startAdornment: (
              <InputAdornment position="start">
                <Search fontSize="small" />
              </InputAdornment>
            ),
          },
        }}
      />
    </Stack>
  );
}
