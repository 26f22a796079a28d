import {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  VpgSettingsSchema,
  type VpgSettings,
} from '../../app/vpg/vpg-schemas';

const GIB = 2 ** 30;

/** The VPG wizard's fields as typed (numbers as text, in the units the admin thinks in). */
export interface VpgForm {
  readonly name: string;
  readonly protectedSiteId: string;
  readonly vmIds: readonly string[];
  readonly recoverySiteId: string;
  readonly recoveryHostId: string;
  readonly recoveryDatastore: string;
  readonly historyHours: string;
  readonly hardLimitGiB: string;
  readonly warning: string;
  readonly warningUnit: 'percent' | 'GiB';
  readonly checkpointIntervalSeconds: string;
  readonly rpoTargetSeconds: string;
}

export type VpgField = Exclude<keyof VpgForm, 'warningUnit'>;
export type VpgFormErrors = Partial<Record<VpgField, string>>;

export const EMPTY_VPG_FORM: VpgForm = {
  name: '',
  protectedSiteId: '',
  vmIds: [],
  recoverySiteId: '',
  recoveryHostId: '',
  recoveryDatastore: '',
  historyHours: '4',
  hardLimitGiB: '20',
  warning: '75',
  warningUnit: 'percent',
  checkpointIntervalSeconds: String(DEFAULT_CHECKPOINT_INTERVAL_MS / 1000),
  rpoTargetSeconds: '30',
};

/** The wizard's steps and the fields each one owns (its errors are shown there). */
export const VPG_STEPS = [
  { label: 'VMs', fields: ['name', 'protectedSiteId', 'vmIds'] },
  { label: 'Recovery site', fields: ['recoverySiteId', 'recoveryHostId', 'recoveryDatastore'] },
  {
    label: 'Journal and RPO',
    fields: [
      'historyHours',
      'hardLimitGiB',
      'warning',
      'checkpointIntervalSeconds',
      'rpoTargetSeconds',
    ],
  },
  { label: 'Summary', fields: [] },
] as const satisfies readonly { label: string; fields: readonly VpgField[] }[];

/** A field's unit: how the schema's bound (seconds, bytes, ms) reads in the form. */
const UNITS: Partial<Record<VpgField, { per: number; unit: string }>> = {
  historyHours: { per: 3600, unit: 'h' },
  hardLimitGiB: { per: GIB, unit: 'GiB' },
  checkpointIntervalSeconds: { per: 1000, unit: 's' },
  rpoTargetSeconds: { per: 1, unit: 's' },
};

const PATHS: Readonly<Record<string, VpgField>> = {
  name: 'name',
  vmIds: 'vmIds',
  recoverySiteId: 'recoverySiteId',
  recoveryHostId: 'recoveryHostId',
  recoveryDatastore: 'recoveryDatastore',
  'journal.historySeconds': 'historyHours',
  'journal.hardLimitBytes': 'hardLimitGiB',
  'journal.warningBytes': 'warning',
  checkpointIntervalMs: 'checkpointIntervalSeconds',
  rpoTargetSeconds: 'rpoTargetSeconds',
};

const CHOICES: readonly [VpgField, string][] = [
  ['protectedSiteId', 'Choose the protected site'],
  ['recoverySiteId', 'Choose the recovery site'],
  ['recoveryHostId', 'Choose the recovery host'],
  ['recoveryDatastore', 'Choose a datastore'],
];

export type VpgFormResult =
  { ok: true; settings: VpgSettings } | { ok: false; errors: VpgFormErrors };

/**
 * The form as VpgSettings, validated by the app's VpgSettingsSchema; its issues come back per
 * field, numeric bounds in the field's own unit ("at most 720 h" rather than seconds).
 */
export function formToSettings(form: VpgForm): VpgFormResult {
  const errors: VpgFormErrors = {};
  for (const [field, message] of CHOICES) if (form[field] === '') errors[field] = message;
  const number = (field: VpgField, text: string): number => {
    const value = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(value)) errors[field] = 'Enter a number';
    return value;
  };
  const historyHours = number('historyHours', form.historyHours);
  const hardLimitGiB = number('hardLimitGiB', form.hardLimitGiB);
  const warning = number('warning', form.warning);
  const interval = number('checkpointIntervalSeconds', form.checkpointIntervalSeconds);
  const rpo = number('rpoTargetSeconds', form.rpoTargetSeconds);
  const hardLimitBytes = Math.round(hardLimitGiB * GIB);
  const warningBytes = Math.round(
    form.warningUnit === 'percent' ? (hardLimitBytes * warning) / 100 : warning * GIB,
  );
  if (form.warningUnit === 'percent' && !(warning > 0 && warning < 100) && !errors.warning)
    errors.warning = 'Give a percentage between 0 and 100';
  const candidate = {
    name: form.name,
    vmIds: [...form.vmIds],
    recoverySiteId: form.recoverySiteId,
    recoveryHostId: form.recoveryHostId,
    recoveryDatastore: form.recoveryDatastore,
    journal: {
      historySeconds: Math.round(historyHours * 3600),
      hardLimitBytes,
      warningBytes,
    },
    checkpointIntervalMs: Math.round(interval * 1000),
    rpoTargetSeconds: rpo,
  };
  const parsed = VpgSettingsSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = PATHS[issue.path.join('.')];
      if (field === undefined || errors[field] !== undefined) continue;
      errors[field] = issueMessage(field, issue);
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, settings: parsed.data };
}

interface Issue {
  readonly code: string;
  readonly message: string;
  readonly minimum?: unknown;
  readonly maximum?: unknown;
  readonly inclusive?: boolean;
  readonly expected?: unknown;
}

function issueMessage(field: VpgField, issue: Issue): string {
  const unit = UNITS[field];
  const name = field === 'name' ? 'The name' : undefined;
  if (issue.code === 'too_small' && field === 'name') return 'Give the VPG a name';
  if (issue.code === 'too_big' && field === 'name' && typeof issue.maximum === 'number')
    return `${name} is limited to ${issue.maximum} characters`;
  if (unit !== undefined && (issue.code === 'too_small' || issue.code === 'too_big')) {
    const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
    const shown = `${Number((bound / unit.per).toFixed(3))} ${unit.unit}`;
    if (issue.code === 'too_big') return `Must be at most ${shown}`;
    return issue.inclusive === false ? `Must be more than ${shown}` : `Must be at least ${shown}`;
  }
  if (issue.code === 'invalid_type' && issue.expected === 'int' && unit !== undefined)
    return `Use a whole number of ${unit.unit === 's' ? 'seconds' : unit.unit}`;
  return capitalize(issue.message);
}

function capitalize(text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1);
}

/** The errors of one step's fields. */
export function stepErrors(errors: VpgFormErrors, step: number): VpgFormErrors {
  const fields: readonly VpgField[] = VPG_STEPS[step]?.fields ?? [];
  const result: VpgFormErrors = {};
  for (const f of fields) if (errors[f] !== undefined) result[f] = errors[f];
  return result;
}

/** The form with the warning threshold in another unit, its value converted (% ↔ GiB). */
export function withWarningUnit(form: VpgForm, warningUnit: VpgForm['warningUnit']): VpgForm {
  if (form.warningUnit === warningUnit) return form;
  const hard = Number(form.hardLimitGiB);
  const value = Number(form.warning);
  let warning = form.warning;
  if (Number.isFinite(hard) && hard > 0 && Number.isFinite(value)) {
    const converted = warningUnit === 'GiB' ? (hard * value) / 100 : (value / hard) * 100;
    warning = String(Number(converted.toFixed(2)));
  }
  return { ...form, warningUnit, warning };
}
