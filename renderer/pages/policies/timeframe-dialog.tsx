import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import { useState } from 'react';
import type {
  DateException,
  DayOfWeek,
  PolicyDefault,
  Recurrence,
  Timeframe,
} from '../../../app/policy/policy-schemas';
import type { Outcome } from '../../lib/errors';
import {
  RATE_UNITS,
  RPO_UNITS,
  parseRate,
  parseRpo,
  rateInput,
  rpoInput,
  type RateInput,
  type RateUnit,
  type RpoInput,
  type RpoUnit,
} from '../../lib/policy-units';

const DAY_LABELS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

type Props =
  | {
      readonly kind: 'timeframe';
      readonly title: string;
      readonly initial: Timeframe;
      readonly onSave: (tf: Timeframe) => Promise<Outcome<unknown>>;
      readonly onDelete?: () => Promise<Outcome<unknown>>;
      readonly onClose: () => void;
    }
  | {
      readonly kind: 'exception';
      readonly title: string;
      readonly initial: DateException;
      readonly onSave: (ex: DateException) => Promise<Outcome<unknown>>;
      readonly onDelete?: () => Promise<Outcome<unknown>>;
      readonly onClose: () => void;
    }
  | {
      readonly kind: 'default';
      readonly title: string;
      readonly initial: PolicyDefault;
      readonly onSave: (d: PolicyDefault) => Promise<Outcome<unknown>>;
      readonly onClose: () => void;
    };

const RECURRENCES: readonly { value: Recurrence; label: string }[] = [
  { value: 'once', label: 'Once, these days' },
  { value: 'yearly', label: 'These days every year' },
  { value: 'last-business-day', label: 'Last business day of each month in the range' },
];
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Name, days and hours, RPO target and bandwidths of a timeframe; or the dates of a dated
 * exception; or the default's limits.
 */
export function TimeframeDialog(props: Props) {
  const tf = props.kind === 'timeframe' ? props.initial : undefined;
  const ex = props.kind === 'exception' ? props.initial : undefined;
  const [name, setName] = useState(tf?.name ?? ex?.name ?? '');
  const [from, setFrom] = useState(ex?.from ?? '');
  const [to, setTo] = useState(ex?.to ?? '');
  const [recurrence, setRecurrence] = useState<Recurrence>(ex?.recurrence ?? 'once');
  const [days, setDays] = useState<DayOfWeek[]>(tf?.days ?? []);
  const [start, setStart] = useState(tf?.start ?? '');
  const [end, setEnd] = useState(tf?.end ?? '');
  const [rpo, setRpo] = useState<RpoInput>(rpoInput(props.initial.rpoTargetSeconds));
  const [rate, setRate] = useState<RateInput>(rateInput(props.initial.replicationBitsPerSecond));
  const [seed, setSeed] = useState<RateInput>(rateInput(props.initial.seedingBitsPerSecond));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const rpoValue = parseRpo(rpo);
  const rateValue = parseRate(rate);
  const seedValue = parseRate(seed);
  const invalid =
    typeof rpoValue === 'string' ||
    typeof rateValue === 'string' ||
    typeof seedValue === 'string' ||
    (props.kind === 'timeframe' && (name.trim() === '' || days.length === 0)) ||
    (props.kind === 'exception' && (name.trim() === '' || !DATE.test(from) || !DATE.test(to)));

  const save = async (): Promise<void> => {
    if (invalid) return;
    const limits: PolicyDefault = {
      rpoTargetSeconds: rpoValue,
      ...(rateValue !== undefined && { replicationBitsPerSecond: rateValue }),
      ...(seedValue !== undefined && { seedingBitsPerSecond: seedValue }),
    };
    setBusy(true);
    const outcome =
      props.kind === 'exception'
        ? await props.onSave({
            id: props.initial.id,
            colour: props.initial.colour,
            name: name.trim(),
            from,
            to,
            recurrence,
            ...limits,
          })
        : props.kind === 'timeframe'
          ? await props.onSave({
              id: props.initial.id,
              colour: props.initial.colour,
              name: name.trim(),
              days: [...days].sort((a, b) => a - b),
              start,
              end,
              ...limits,
            })
          : await props.onSave(limits);
    setBusy(false);
    if (outcome.ok) props.onClose();
    else setError(outcome.error.message);
  };

  const remove = async (): Promise<void> => {
    if (props.kind === 'default' || props.onDelete === undefined) return;
    setBusy(true);
    const outcome = await props.onDelete();
    setBusy(false);
    if (outcome.ok) props.onClose();
    else setError(outcome.error.message);
  };

  return (
    <Dialog open onClose={props.onClose} maxWidth="sm" fullWidth aria-labelledby="tf-dialog-title">
      <DialogTitle id="tf-dialog-title">{props.title}</DialogTitle>
      <DialogContent>
        <Stack spacing={2.5} sx={{ pt: 1 }}>
          {props.kind !== 'default' && (
            <TextField
              label="Name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              autoFocus
              error={name.trim() === ''}
              helperText={name.trim() === '' ? `give the ${props.kind} a name` : ' '}
            />
          )}
          {props.kind === 'exception' && (
            <>
              <Stack direction="row" spacing={2}>
                <TextField
                  label="From"
                  type="date"
                  value={from}
                  onChange={(e) => setFrom(e.target.value)}
                  slotProps={{ inputLabel: { shrink: true } }}
                  helperText="whole days, site time"
                />
                <TextField
                  label="To"
                  type="date"
                  value={to}
                  onChange={(e) => setTo(e.target.value)}
                  slotProps={{ inputLabel: { shrink: true } }}
                  helperText="included"
                />
              </Stack>
              <TextField
                select
                label="Applies"
                value={recurrence}
                onChange={(e) => setRecurrence(e.target.value as Recurrence)}
              >
                {RECURRENCES.map((r) => (
                  <MenuItem key={r.value} value={r.value}>
                    {r.label}
                  </MenuItem>
                ))}
              </TextField>
            </>
          )}
          {props.kind === 'timeframe' && (
            <>
              <ToggleButtonGroup
                value={days}
                onChange={(_, v: DayOfWeek[]) => setDays(v)}
                aria-label="Days"
                size="small"
              >
                {DAY_LABELS.map((label, i) => (
                  <ToggleButton key={label} value={i + 1} aria-label={label}>
                    {label}
                  </ToggleButton>
                ))}
              </ToggleButtonGroup>
              <Stack direction="row" spacing={2}>
                <TextField
                  label="Start"
                  value={start}
                  onChange={(e) => setStart(e.target.value)}
                  helperText="HH:MM, site time"
                />
                <TextField
                  label="End"
                  value={end}
                  onChange={(e) => setEnd(e.target.value)}
                  helperText="at or before the start: the next day"
                />
              </Stack>
            </>
          )}
          <ValueWithUnit
            label="RPO target"
            value={rpo.value}
            unit={rpo.unit}
            units={Object.keys(RPO_UNITS)}
            error={typeof rpoValue === 'string' ? rpoValue : undefined}
            onChange={(value, unit) => setRpo({ value, unit: unit as RpoUnit })}
          />
          <ValueWithUnit
            label="Replication bandwidth"
            value={rate.value}
            unit={rate.unit}
            units={[...Object.keys(RATE_UNITS), 'unlimited']}
            error={typeof rateValue === 'string' ? rateValue : undefined}
            onChange={(value, unit) => setRate({ value, unit: unit as RateUnit })}
          />
          <ValueWithUnit
            label="Seeding bandwidth"
            value={seed.value}
            unit={seed.unit}
            units={[...Object.keys(RATE_UNITS), 'unlimited']}
            error={typeof seedValue === 'string' ? seedValue : undefined}
            onChange={(value, unit) => setSeed({ value, unit: unit as RateUnit })}
          />
          {error !== undefined && (
            <Alert severity="error" role="alert">
              {error}
            </Alert>
          )}
        </Stack>
      </DialogContent>
      <DialogActions>
        {props.kind !== 'default' && props.onDelete !== undefined && (
          <Button color="error" onClick={() => void remove()} disabled={busy}>
            Delete
          </Button>
        )}
        <Box sx={{ flexGrow: 1 }} />
        <Button onClick={props.onClose}>Cancel</Button>
        <Button variant="contained" onClick={() => void save()} disabled={invalid || busy}>
          Save
        </Button>
      </DialogActions>
    </Dialog>
  );
}

function ValueWithUnit(props: {
  label: string;
  value: string;
  unit: string;
  units: readonly string[];
  error: string | undefined;
  onChange: (value: string, unit: string) => void;
}) {
  return (
    <Stack direction="row" spacing={1.5}>
      <TextField
        label={props.label}
        value={props.unit === 'unlimited' ? '' : props.value}
        disabled={props.unit === 'unlimited'}
        onChange={(e) => props.onChange(e.target.value, props.unit)}
        error={props.error !== undefined}
        helperText={props.error ?? ' '}
        slotProps={{ htmlInput: { inputMode: 'decimal' } }}
        sx={{ flexGrow: 1 }}
      />
      <TextField
        select
        label={`${props.label} unit`}
        value={props.unit}
        onChange={(e) => props.onChange(props.value, e.target.value)}
        sx={{ width: 150 }}
        helperText=" "
      >
        {props.units.map((u) => (
          <MenuItem key={u} value={u}>
            {u}
          </MenuItem>
        ))}
      </TextField>
    </Stack>
  );
}
