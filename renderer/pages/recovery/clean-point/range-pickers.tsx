import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import type { CleanPointRange } from '../../../../app/recovery/clean-point';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { formatSourceTime } from '../../../lib/protection';
import { thinMarks, timelineMarks } from '../../../lib/recovery';

interface Props {
  readonly checkpoints: readonly CheckpointInfo[];
  readonly range: CleanPointRange;
  onChange(range: CleanPointRange): void;
}

const OLDEST = 'oldest';
const LATEST = 'latest';

/**
 * The part of the journal searched: from / to a checkpoint, by default all of it. The lists
 * offer every named or tested checkpoint and automatic ones spread over the history (hours
 * of 5-second checkpoints would not fit a menu).
 */
export function RangePickers({ checkpoints, range, onChange }: Props) {
  const options = (keepSeq: number | undefined) =>
    thinMarks(timelineMarks(checkpoints), 0.02, keepSeq)
      .map((m) => m.checkpoint)
      .reverse();
  const text = (c: CheckpointInfo): string =>
    [
      c.name,
      formatSourceTime(c.sourceTime),
      c.tested && (c.tested.result === 'Passed' ? 'tested clean' : 'tested not clean'),
    ]
      .filter(Boolean)
      .join(' · ');
  const picker = (
    label: string,
    value: number | undefined,
    end: typeof OLDEST | typeof LATEST,
    set: (seq: number | undefined) => void,
  ) => (
    <TextField
      select
      size="small"
      label={label}
      value={value === undefined ? end : String(value)}
      onChange={(e) => set(e.target.value === end ? undefined : Number(e.target.value))}
      sx={{ flex: '1 1 0', minWidth: 0 }}
      slotProps={{ select: { MenuProps: { slotProps: { paper: { sx: { maxHeight: 360 } } } } } }}
    >
      <MenuItem value={end}>
        {end === OLDEST ? 'The oldest checkpoint held' : 'The latest checkpoint'}
      </MenuItem>
      {options(value).map((c) => (
        <MenuItem key={c.seq} value={String(c.seq)}>
          {text(c)}
        </MenuItem>
      ))}
    </TextField>
  );
  return (
    <Stack direction="row" spacing={2} aria-label="Range searched" role="group">
      {picker('From', range.fromSeq, OLDEST, (fromSeq) => onChange({ ...range, fromSeq }))}
      {picker('To', range.toSeq, LATEST, (toSeq) => onChange({ ...range, toSeq }))}
    </Stack>
  );
}
