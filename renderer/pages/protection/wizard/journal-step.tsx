import Chip from '@mui/material/Chip';
import InputAdornment from '@mui/material/InputAdornment';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import { formatDuration } from '../../../lib/protection';
import type { VpgField, VpgForm, VpgFormErrors } from '../../../lib/vpg-form';
import { useVpgWizardStore } from '../../../stores/vpg-wizard-store';

const RPO_PRESETS = [15, 30, 60, 300, 900] as const;

export type NumberField = Extract<
  VpgField,
  'historyHours' | 'hardLimitGiB' | 'warning' | 'checkpointIntervalSeconds' | 'rpoTargetSeconds'
>;

/** Step 3: how much history the journal keeps and may use, checkpoint interval, RPO target. */
export function JournalStep() {
  const form = useVpgWizardStore((s) => s.form);
  const errors = useVpgWizardStore((s) => s.errors);
  const { setText, setWarningUnit } = useVpgWizardStore.getState();
  return (
    <JournalFields form={form} errors={errors} setText={setText} setWarningUnit={setWarningUnit} />
  );
}

interface JournalFieldsProps {
  readonly form: VpgForm;
  readonly errors: VpgFormErrors;
  setText(field: NumberField, value: string): void;
  setWarningUnit(unit: VpgForm['warningUnit']): void;
}

/** The journal, checkpoint and RPO fields: the wizard's step 3 and the VPG edit dialog's. */
export function JournalFields({ form, errors, setText, setWarningUnit }: JournalFieldsProps) {
  const rpo = Number(form.rpoTargetSeconds);

  const field = (name: NumberField, label: string, unit: string, helper: string) => (
    <TextField
      id={`vpg-${name}`}
      label={label}
      value={form[name]}
      onChange={(e) => setText(name, e.target.value)}
      error={errors[name] !== undefined}
      helperText={errors[name] ?? helper}
      fullWidth
      slotProps={{
        htmlInput: { inputMode: 'decimal', autoComplete: 'off' },
        input: { endAdornment: <InputAdornment position="end">{unit}</InputAdornment> },
      }}
    />
  );

  return (
    <Stack spacing={3}>
      <div>
        <Typography variant="subtitle2" sx={{ mb: 1.5 }}>
          Journal at the recovery site
        </Typography>
        <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2}>
          {field('historyHours', 'Journal history (hours)', 'h', 'How far back you can recover')}
          {field(
            'hardLimitGiB',
            'Journal hard limit (GiB)',
            'GiB',
            'The journal never grows past this',
          )}
          <Stack direction="row" spacing={1} sx={{ width: '100%', alignItems: 'flex-start' }}>
            {field(
              'warning',
              'Warning threshold',
              form.warningUnit === 'percent' ? '%' : 'GiB',
              form.warningUnit === 'percent' ? 'Of the hard limit' : 'Warn above this size',
            )}
            <ToggleButtonGroup
              exclusive
              size="small"
              value={form.warningUnit}
              onChange={(_, unit: 'percent' | 'GiB' | null) => unit && setWarningUnit(unit)}
              aria-label="Warning threshold unit"
              sx={{ mt: 1 }}
            >
              <ToggleButton value="percent" aria-label="Percent">
                %
              </ToggleButton>
              <ToggleButton value="GiB" aria-label="GiB">
                GiB
              </ToggleButton>
            </ToggleButtonGroup>
          </Stack>
        </Stack>
      </div>
      <div>
        <Typography variant="subtitle2" sx={{ mb: 1.5 }}>
          Checkpoints and RPO
        </Typography>
        <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2}>
          {field(
            'checkpointIntervalSeconds',
            'Checkpoint interval (seconds)',
            's',
            'An automatic checkpoint this often',
          )}
          {field(
            'rpoTargetSeconds',
            'RPO target (seconds)',
            's',
            Number.isFinite(rpo) && rpo > 0
              ? `At most ${formatDuration(rpo)} of writes at risk`
              : 'How much data loss is acceptable',
          )}
        </Stack>
        <Stack direction="row" spacing={1} sx={{ mt: 1.5, alignItems: 'center' }}>
          <Typography variant="caption" color="text.secondary">
            Common targets:
          </Typography>
          {RPO_PRESETS.map((s) => (
            <Chip
              key={s}
              size="small"
              label={formatDuration(s)}
              variant={String(s) === form.rpoTargetSeconds ? 'filled' : 'outlined'}
              color={String(s) === form.rpoTargetSeconds ? 'secondary' : 'default'}
              onClick={() => setText('rpoTargetSeconds', String(s))}
            />
          ))}
        </Stack>
      </div>
    </Stack>
  );
}
