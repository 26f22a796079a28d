import CalendarMonth from '@mui/icons-material/CalendarMonth';
import EventBusy from '@mui/icons-material/EventBusy';
import Alert from '@mui/material/Alert';
import Autocomplete from '@mui/material/Autocomplete';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useEffect, useMemo, useState } from 'react';
import { policyInForce } from '../../../app/policy/policy';
import type { DateException, DayOfWeek, Timeframe } from '../../../app/policy/policy-schemas';
import { EmptyState } from '../../components/empty-state';
import { ErrorAlert } from '../../components/error-alert';
import type { Outcome } from '../../lib/errors';
import { movedTimeframe, selectionSpan } from '../../lib/policy-calendar';
import { policyTargets } from '../../lib/policy-targets';
import { POLICY_TEMPLATES } from '../../lib/policy-templates';
import { formatLimits, nextColour } from '../../lib/policy-units';
import { useNow } from '../../lib/use-now';
import { useEstateStore } from '../../stores/estate-store';
import { adminTimeZone, draftKeyOf, usePoliciesStore } from '../../stores/policies-store';
import { ApplyDialog } from './apply-dialog';
import { TimeframeDialog } from './timeframe-dialog';
import { PredictionPanel, usePrediction } from './prediction/prediction-panel';
import { WeekCalendar } from './week-calendar';

type Editing =
  | { kind: 'new'; timeframe: Timeframe }
  | { kind: 'edit'; timeframe: Timeframe }
  | { kind: 'new-exception'; exception: DateException }
  | { kind: 'edit-exception'; exception: DateException }
  | { kind: 'default' };

const newId = (): string => crypto.randomUUID();
const TIME_ZONES: readonly string[] = Intl.supportedValuesOf('timeZone');

/** Calendar policies: draw timeframes on a week, keep them as a draft, apply to an agent. */
export function PoliciesPage() {
  const snapshot = useEstateStore((s) => s.snapshot);
  const store = usePoliciesStore();
  const { drafts, selected, policy, refusal, loadDrafts, select, edit } = store;
  const [editing, setEditing] = useState<Editing>();
  const now = useNow(true);

  useEffect(() => {
    void loadDrafts();
  }, [loadDrafts]);

  const targets = useMemo(() => policyTargets(snapshot, drafts), [snapshot, drafts]);
  const selectedId = selected ? draftKeyOf(selected) : '';
  const target = targets.find((t) => t.id === selectedId);
  const draft = drafts.find((d) => draftKeyOf(d) === selectedId);
  const inForce = policy ? policyInForce(policy, now) : undefined;
  const adminZone = adminTimeZone();
  const planned = policy && target && !store.loadingCurrent ? target.key : undefined;
  const { predictions, calendar } = usePrediction(
    planned,
    planned && policy,
    target?.live === true,
  );

  /** "Use this": the least bandwidth the planner found, set on that part of the draft. */
  const useBandwidth = (frameKey: string, bits: number): void => {
    void edit((p) => {
      const set = <T extends { replicationBitsPerSecond?: number | undefined }>(x: T): T => ({
        ...x,
        replicationBitsPerSecond: bits,
      });
      if (frameKey === 'default') return { ...p, default: set(p.default) };
      const id = frameKey.slice(2);
      if (frameKey.startsWith('x:')) {
        return { ...p, exceptions: (p.exceptions ?? []).map((x) => (x.id === id ? set(x) : x)) };
      }
      return { ...p, timeframes: p.timeframes.map((t) => (t.id === id ? set(t) : t)) };
    });
  };

  const replaceException = (ex: DateException): Promise<Outcome<unknown>> =>
    edit((p) => {
      const list = p.exceptions ?? [];
      return {
        ...p,
        exceptions: list.some((x) => x.id === ex.id)
          ? list.map((x) => (x.id === ex.id ? ex : x))
          : [...list, ex],
      };
    });

  const replace = (tf: Timeframe): Promise<Outcome<unknown>> =>
    edit((p) => ({
      ...p,
      timeframes: p.timeframes.some((t) => t.id === tf.id)
        ? p.timeframes.map((t) => (t.id === tf.id ? tf : t))
        : [...p.timeframes, tf],
    }));

  return (
    <Box>
      <Stack direction="row" sx={{ alignItems: 'flex-end', mb: 3, gap: 2, flexWrap: 'wrap' }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h1">Policies</Typography>
          <Typography color="text.secondary">
            Draw when links may use how much bandwidth and which RPO to hold. Drafts are kept here,
            even with no agent reachable, until you apply them.
          </Typography>
        </Box>
        <TextField
          select
          label="Policy for"
          value={target ? selectedId : ''}
          onChange={(e) => {
            const t = targets.find((o) => o.id === e.target.value);
            if (t) void select(t.key, t.name);
          }}
          sx={{ minWidth: 320 }}
          slotProps={{ htmlInput: { 'aria-label': 'Policy for' } }}
        >
          {targets.map((t) => (
            <MenuItem key={t.id} value={t.id}>
              {t.label}
              {drafts.some((d) => draftKeyOf(d) === t.id) ? ' · draft' : ''}
            </MenuItem>
          ))}
        </TextField>
      </Stack>
      {store.loadError && <ErrorAlert error={store.loadError} sx={{ mb: 2 }} />}
      {targets.length === 0 && (
        <EmptyState icon={<CalendarMonth />} title="Nothing to set a policy for yet">
          Pair two sites or protect a VPG first; its link or VPG then appears here.
        </EmptyState>
      )}
      {targets.length > 0 && (policy === undefined || target === undefined) && (
        <Typography color="text.secondary">Pick a site link or a VPG above.</Typography>
      )}
      {policy && target && store.loadingCurrent && (
        <Typography color="text.secondary">Loading the agent’s policy…</Typography>
      )}
      {policy && target && !store.loadingCurrent && (
        <Stack spacing={2}>
          <Paper variant="outlined" sx={{ p: 2 }}>
            <Stack direction="row" sx={{ gap: 2, alignItems: 'center', flexWrap: 'wrap' }}>
              <Autocomplete
                options={TIME_ZONES}
                value={policy.timeZone}
                disableClearable
                onChange={(_, timeZone) => void edit((p) => ({ ...p, timeZone }))}
                renderInput={(params) => <TextField {...params} label="Site time zone" />}
                sx={{ width: 260 }}
              />
              <Typography variant="body2" color="text.secondary" data-testid="zone-note">
                Times are shown in {policy.timeZone}
                {policy.timeZone !== adminZone ? ` (your time zone is ${adminZone})` : ''}.
              </Typography>
              <Box sx={{ flexGrow: 1 }} />
              {POLICY_TEMPLATES.map((t) => (
                <Button
                  key={t.key}
                  variant="outlined"
                  size="small"
                  onClick={() => void edit((p) => ({ ...p, ...t.build(p.timeZone, newId) }))}
                >
                  Template: {t.label}
                </Button>
              ))}
            </Stack>
          </Paper>
          <Stack direction="row" sx={{ gap: 1.5, alignItems: 'center', flexWrap: 'wrap' }}>
            <Chip
              label={`Default (uncovered time): ${formatLimits(policy.default)}`}
              onClick={() => setEditing({ kind: 'default' })}
              variant="outlined"
              data-testid="default-chip"
            />
            {inForce && (
              <Chip
                // Amber like the in-force outline on the calendar; the default is just stated.
                color={inForce.timeframeId === undefined ? 'default' : 'warning'}
                label={`In force now: ${inForce.timeframeName} — ${formatLimits(inForce)}`}
                data-testid="in-force"
              />
            )}
            <Box sx={{ flexGrow: 1 }} />
            <Typography variant="body2" color="text.secondary" data-testid="draft-status">
              {draft
                ? `Draft from agent version ${draft.baseVersion}, saved ${new Date(draft.updatedAt).toLocaleTimeString()}`
                : `No draft: agent version ${policy.version}`}
              {target.live ? '' : ' · agent offline'}
            </Typography>
            <Button disabled={!draft} onClick={() => void store.discard()}>
              Discard draft
            </Button>
            <Button
              variant="contained"
              disabled={!draft || !target.live}
              onClick={() => void store.openApply()}
            >
              Review and apply…
            </Button>
          </Stack>
          {refusal !== undefined && (
            <Alert severity="error" role="alert" onClose={store.dismissRefusal}>
              {refusal}
            </Alert>
          )}
          <WeekCalendar
            policy={policy}
            inForceId={inForce?.timeframeId}
            predictions={calendar}
            onSelect={(start, end) => {
              const span = selectionSpan(start, end);
              setEditing({
                kind: 'new',
                timeframe: {
                  id: newId(),
                  name: '',
                  colour: nextColour(policy),
                  ...span,
                  rpoTargetSeconds: policy.default.rpoTargetSeconds,
                },
              });
            }}
            onChange={async (id: string, day: DayOfWeek, start: Date, end: Date) => {
              // From the store, not this render: FullCalendar may call a handler of an older one.
              const tf = usePoliciesStore.getState().policy?.timeframes.find((t) => t.id === id);
              if (tf === undefined) return false;
              const moved = movedTimeframe(tf, day, start, end);
              if (moved === undefined) {
                usePoliciesStore.setState({
                  refusal: 'A timeframe lasts at most 24 hours; give it more days instead.',
                });
                return false;
              }
              return (await replace(moved)).ok;
            }}
            onOpen={(id) => {
              const tf = policy.timeframes.find((t) => t.id === id);
              if (tf) setEditing({ kind: 'edit', timeframe: tf });
            }}
          />
          <Stack
            direction="row"
            sx={{ gap: 1, alignItems: 'center', flexWrap: 'wrap' }}
            aria-label="Date exceptions"
          >
            <Typography variant="body2" color="text.secondary">
              Date exceptions (take precedence over the week):
            </Typography>
            {(policy.exceptions ?? []).length === 0 && (
              <Typography variant="body2" color="text.secondary">
                none
              </Typography>
            )}
            {(policy.exceptions ?? []).map((x) => (
              <Chip
                key={x.id}
                icon={<EventBusy />}
                label={`${x.name}: ${describeDates(x)} — ${formatLimits(x)}`}
                onClick={() => setEditing({ kind: 'edit-exception', exception: x })}
                sx={{ borderLeft: `6px solid ${x.colour}` }}
                variant="outlined"
              />
            ))}
            <Button
              size="small"
              onClick={() =>
                setEditing({
                  kind: 'new-exception',
                  exception: {
                    id: newId(),
                    name: '',
                    colour: '#e53935',
                    from: '',
                    to: '',
                    recurrence: 'once',
                    rpoTargetSeconds: policy.default.rpoTargetSeconds,
                  },
                })
              }
            >
              Add a date exception…
            </Button>
          </Stack>
          <PredictionPanel
            policyKey={target.key}
            predictions={predictions}
            onUseBandwidth={useBandwidth}
            now={now}
          />
        </Stack>
      )}
      {editing?.kind === 'default' && policy && (
        <TimeframeDialog
          kind="default"
          title="Default, for time no timeframe covers"
          initial={policy.default}
          onSave={(d) => edit((p) => ({ ...p, default: d }))}
          onClose={() => setEditing(undefined)}
        />
      )}
      {(editing?.kind === 'new-exception' || editing?.kind === 'edit-exception') && (
        <TimeframeDialog
          kind="exception"
          title={
            editing.kind === 'new-exception'
              ? 'New date exception'
              : `Date exception ${editing.exception.name}`
          }
          initial={editing.exception}
          onSave={async (ex) => {
            const outcome = await replaceException(ex);
            if (!outcome.ok) store.dismissRefusal(); // the dialog shows it
            return outcome;
          }}
          {...(editing.kind === 'edit-exception' && {
            onDelete: () =>
              edit((p) => ({
                ...p,
                exceptions: (p.exceptions ?? []).filter((x) => x.id !== editing.exception.id),
              })),
          })}
          onClose={() => setEditing(undefined)}
        />
      )}
      {(editing?.kind === 'new' || editing?.kind === 'edit') && (
        <TimeframeDialog
          kind="timeframe"
          title={editing.kind === 'new' ? 'New timeframe' : `Timeframe ${editing.timeframe.name}`}
          initial={editing.timeframe}
          onSave={async (tf) => {
            const outcome = await replace(tf);
            if (!outcome.ok) store.dismissRefusal(); // the dialog shows it
            return outcome;
          }}
          {...(editing.kind === 'edit' && {
            onDelete: () =>
              edit((p) => ({
                ...p,
                timeframes: p.timeframes.filter((t) => t.id !== editing.timeframe.id),
              })),
          })}
          onClose={() => setEditing(undefined)}
        />
      )}
      <ApplyDialog />
    </Box>
  );
}

const RECURRENCE_TEXT = {
  once: '',
  yearly: ', every year',
  'last-business-day': ', last business day of each month',
} as const;

function describeDates(x: DateException): string {
  const span = x.from === x.to ? x.from : `${x.from} to ${x.to}`;
  return `${span}${RECURRENCE_TEXT[x.recurrence]}`;
}
