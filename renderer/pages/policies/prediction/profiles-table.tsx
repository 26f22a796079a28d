import Delete from '@mui/icons-material/Delete';
import Button from '@mui/material/Button';
import IconButton from '@mui/material/IconButton';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import {
  MINUTES_PER_WEEK,
  PROFILE_TEMPLATES,
  TEMPLATE_NAMES,
  parseRatesCsv,
  type PlannedVpg,
  type ProfileChoice,
  type ProfileTemplate,
} from '../../../../app/planner';
import type { PlanningVpg } from '../../../../app/protocol/console-planner-api';
import { toErrorView } from '../../../lib/errors';

interface Props {
  readonly vpgs: readonly PlanningVpg[];
  readonly profiles: Readonly<Record<string, ProfileChoice>>;
  readonly measuredMinutes: Readonly<Record<string, number>>;
  readonly planned: readonly PlannedVpg[];
  readonly onProfile: (vpgId: string, choice: ProfileChoice | undefined) => void;
  readonly onAddPlanned: (vpg: PlannedVpg) => void;
  readonly onRemovePlanned: (id: string) => void;
}

const DEFAULT_PEAK_MBPS = 20;

/**
 * Where each VPG's week of write rates comes from: what its agent measured, or a template
 * scaled by a peak, or a CSV; and VPGs planned before they exist.
 */
export function ProfilesTable(props: Props) {
  const [csvError, setCsvError] = useState<string>();
  const choose = (vpgId: string, value: string): void => {
    if (value === 'measured') props.onProfile(vpgId, undefined);
    else if (value === 'csv') pickCsv(vpgId);
    else
      props.onProfile(vpgId, {
        kind: 'template',
        template: value as ProfileTemplate,
        peakMBps: DEFAULT_PEAK_MBPS,
      });
  };
  const pickCsv = (vpgId: string): void => {
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = '.csv,text/csv,text/plain';
    input.onchange = async () => {
      const file = input.files?.[0];
      if (file === undefined) return;
      try {
        const { rates } = parseRatesCsv(await file.text());
        setCsvError(undefined);
        props.onProfile(vpgId, { kind: 'csv', name: file.name, rates: Array.from(rates) });
      } catch (err) {
        setCsvError(`${file.name}: ${toErrorView(err).message}`);
      }
    };
    input.click();
  };
  return (
    <Stack spacing={1}>
      <Table size="small" aria-label="Write rates planned">
        <TableHead>
          <TableRow>
            <TableCell>VPG</TableCell>
            <TableCell>Write rates from</TableCell>
            <TableCell>Peak (MB/s)</TableCell>
            <TableCell />
          </TableRow>
        </TableHead>
        <TableBody>
          {props.vpgs.map((vpg) => {
            const choice = props.profiles[vpg.vpgId];
            const measured = props.measuredMinutes[vpg.vpgId];
            return (
              <TableRow key={vpg.vpgId}>
                <TableCell>{vpg.name}</TableCell>
                <TableCell>
                  <ProfileSelect
                    label={`Write rates of ${vpg.name}`}
                    value={
                      choice?.kind === 'template' ? choice.template : (choice?.kind ?? 'measured')
                    }
                    measuredText={
                      measured === undefined
                        ? 'Measured'
                        : `Measured (${Math.round((measured / MINUTES_PER_WEEK) * 100)}% of the week)`
                    }
                    onChange={(v) => choose(vpg.vpgId, v)}
                  />
                  {choice?.kind === 'csv' && (
                    <Typography variant="caption" sx={{ display: 'block' }}>
                      {choice.name}
                    </Typography>
                  )}
                </TableCell>
                <TableCell>
                  {choice?.kind === 'template' && (
                    <PeakField
                      name={vpg.name}
                      value={choice.peakMBps}
                      onChange={(peakMBps) => props.onProfile(vpg.vpgId, { ...choice, peakMBps })}
                    />
                  )}
                </TableCell>
                <TableCell />
              </TableRow>
            );
          })}
          {props.planned.map((p) => (
            <TableRow key={p.id}>
              <TableCell>{p.name} (planned)</TableCell>
              <TableCell>
                {p.profile.kind === 'template'
                  ? TEMPLATE_NAMES[p.profile.template]
                  : p.profile.name}
              </TableCell>
              <TableCell>{p.profile.kind === 'template' ? p.profile.peakMBps : ''}</TableCell>
              <TableCell>
                <IconButton
                  aria-label={`Remove ${p.name}`}
                  onClick={() => props.onRemovePlanned(p.id)}
                >
                  <Delete fontSize="small" />
                </IconButton>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {csvError !== undefined && (
        <Typography color="error" variant="body2" role="alert">
          {csvError}
        </Typography>
      )}
      <AddPlanned onAdd={props.onAddPlanned} />
    </Stack>
  );
}

function ProfileSelect(props: {
  label: string;
  value: string;
  measuredText: string;
  onChange: (value: string) => void;
}) {
  return (
    <TextField
      select
      size="small"
      value={props.value}
      onChange={(e) => props.onChange(e.target.value)}
      slotProps={{ htmlInput: { 'aria-label': props.label } }}
      sx={{ minWidth: 280 }}
    >
      <MenuItem value="measured">{props.measuredText}</MenuItem>
      {PROFILE_TEMPLATES.map((t) => (
        <MenuItem key={t} value={t}>
          Template: {TEMPLATE_NAMES[t]}
        </MenuItem>
      ))}
      <MenuItem value="csv">CSV file of per-minute MB/s…</MenuItem>
    </TextField>
  );
}

function PeakField(props: { name: string; value: number; onChange: (peak: number) => void }) {
  const [text, setText] = useState(String(props.value));
  const n = Number(text);
  const valid = text.trim() !== '' && Number.isFinite(n) && n > 0 && n <= 100_000;
  return (
    <TextField
      size="small"
      value={text}
      error={!valid}
      helperText={valid ? undefined : 'a peak above 0'}
      onChange={(e) => {
        setText(e.target.value);
        const v = Number(e.target.value);
        if (Number.isFinite(v) && v > 0 && v <= 100_000) props.onChange(v);
      }}
      slotProps={{
        htmlInput: { 'aria-label': `Peak MB/s of ${props.name}`, inputMode: 'decimal' },
      }}
      sx={{ width: 110 }}
    />
  );
}

/** A VPG not created yet: a name, a template scaled by its peak, and its RPO target. */
function AddPlanned({ onAdd }: { onAdd: (vpg: PlannedVpg) => void }) {
  const [name, setName] = useState('');
  const [template, setTemplate] = useState<ProfileTemplate>('office-file-server');
  const [peak, setPeak] = useState(String(DEFAULT_PEAK_MBPS));
  const [rpo, setRpo] = useState('15');
  const peakN = Number(peak);
  const rpoN = Number(rpo);
  const valid =
    name.trim() !== '' && Number.isFinite(peakN) && peakN > 0 && Number.isFinite(rpoN) && rpoN > 0;
  return (
    <Stack direction="row" sx={{ gap: 1, alignItems: 'center', flexWrap: 'wrap' }}>
      <Typography variant="body2" color="text.secondary">
        Plan a VPG not created yet:
      </Typography>
      <TextField size="small" label="Name" value={name} onChange={(e) => setName(e.target.value)} />
      <TextField
        select
        size="small"
        label="Template"
        value={template}
        onChange={(e) => setTemplate(e.target.value as ProfileTemplate)}
        sx={{ minWidth: 220 }}
      >
        {PROFILE_TEMPLATES.map((t) => (
          <MenuItem key={t} value={t}>
            {TEMPLATE_NAMES[t]}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        size="small"
        label="Peak MB/s"
        value={peak}
        onChange={(e) => setPeak(e.target.value)}
        sx={{ width: 110 }}
      />
      <TextField
        size="small"
        label="RPO target (min)"
        value={rpo}
        onChange={(e) => setRpo(e.target.value)}
        sx={{ width: 140 }}
      />
      <Button
        disabled={!valid}
        onClick={() => {
          onAdd({
            id: `planned-${crypto.randomUUID()}`,
            name: name.trim(),
            rpoTargetSeconds: Math.round(rpoN * 60),
            checkpointIntervalSeconds: 5,
            profile: { kind: 'template', template, peakMBps: peakN },
          });
          setName('');
        }}
      >
        Add to the plan
      </Button>
    </Stack>
  );
}
