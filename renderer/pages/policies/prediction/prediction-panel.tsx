import Refresh from '@mui/icons-material/Refresh';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useEffect, useMemo } from 'react';
import type { Policy } from '../../../../app/policy/policy-schemas';
import type { PolicyDraftKey } from '../../../../app/protocol/console-api';
import { formatDuration } from '../../../../app/units/duration';
import type { EventPrediction } from '../../../lib/policy-calendar';
import {
  VERDICT_COLOURS,
  VERDICT_LABELS,
  framePredictions,
  type FramePrediction,
  type Verdict,
} from '../../../lib/plan-view';
import { usePlannerStore } from '../../../stores/planner-store';
import { JournalSizing } from './journal-sizing';
import { PredictionChart } from './prediction-chart';
import { ProfilesTable } from './profiles-table';
import { RepeatedMissBanner } from './repeated-miss-banner';
import { TimeframeCards } from './timeframe-cards';

/** Edits coalesced before a plan runs (a drag sends several). */
const PLAN_DEBOUNCE_MS = 150;

/**
 * Plans the selected target's link with the policy being edited (in a worker), whenever the
 * policy, the measured context or the chosen profiles change; returns the per-part predictions
 * the calendar draws.
 */
export function usePrediction(
  key: PolicyDraftKey | undefined,
  policy: Policy | undefined,
  /** The target's agent is connected: fetched again when it comes back. */
  live: boolean,
): { predictions: FramePrediction[]; calendar: ReadonlyMap<string, EventPrediction> } {
  const { context, profiles, planned, outcome, load, plan } = usePlannerStore();
  const keyText = key === undefined ? undefined : JSON.stringify(key);
  useEffect(() => {
    if (key !== undefined) void load(key);
  }, [keyText, live, load]);
  useEffect(() => {
    if (key === undefined || policy === undefined) return;
    const timer = setTimeout(() => void plan(key, policy, Date.now()), PLAN_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [keyText, policy, context, profiles, planned, plan]);
  return useMemo(() => {
    if (key === undefined || outcome === undefined) return { predictions: [], calendar: new Map() };
    const predictions = framePredictions(outcome, key.target);
    const calendar = new Map<string, EventPrediction>();
    for (const p of predictions) {
      if (!p.key.startsWith('t:')) continue;
      calendar.set(p.key.slice(2), {
        verdict: p.verdict,
        label: `RPO ≤ ${formatDuration(Math.round(p.worstRpoSeconds))}`,
      });
    }
    return { predictions, calendar };
  }, [outcome, keyText]);
}

interface Props {
  readonly policyKey: PolicyDraftKey;
  readonly predictions: readonly FramePrediction[];
  readonly onUseBandwidth: (frameKey: string, bitsPerSecond: number) => void;
  readonly now: number;
}

export function PredictionPanel({ policyKey, predictions, onUseBandwidth, now }: Props) {
  const store = usePlannerStore();
  const { context, contextError, outcome, planError } = store;
  return (
    <Paper variant="outlined" sx={{ p: 2 }} aria-label="Predicted RPO" component="section">
      <Stack direction="row" sx={{ alignItems: 'center', gap: 2, mb: 1.5, flexWrap: 'wrap' }}>
        <Typography variant="h3" sx={{ fontSize: '1.1rem', fontWeight: 600 }}>
          Predicted RPO over a week
        </Typography>
        <Legend />
        <Box sx={{ flexGrow: 1 }} />
        <Typography variant="body2" color="text.secondary" data-testid="planning-source">
          {context === undefined
            ? store.loading
              ? 'Fetching the measured rates…'
              : 'No measured rates: planning the VPGs you add below'
            : `Rates measured by the agent, fetched ${formatAge(now - context.fetchedAt)}` +
              (context.source === 'cache' ? ' · kept by the console' : '') +
              (context.wireShare === undefined
                ? ''
                : ` · LZ4: ${Math.round(context.wireShare * 100)} % of the writes on the wire`)}
        </Typography>
        <Button
          size="small"
          startIcon={<Refresh />}
          disabled={store.loading}
          onClick={() => void store.load(policyKey, true)}
        >
          Refresh
        </Button>
      </Stack>
      {contextError !== undefined && context === undefined && (
        <Alert severity="info" sx={{ mb: 1.5 }}>
          {contextError.message}
        </Alert>
      )}
      {planError !== undefined && (
        <Alert severity="error" sx={{ mb: 1.5 }}>
          {planError.message}
        </Alert>
      )}
      {outcome !== undefined && (
        <RepeatedMissBanner
          vpgs={context?.vpgs ?? []}
          predictions={predictions}
          timeZone={outcome.timeZone}
          now={now}
          onUse={onUseBandwidth}
        />
      )}
      {outcome !== undefined && (
        <Stack spacing={2}>
          {predictions.length > 0 ? (
            <TimeframeCards
              predictions={predictions}
              onUse={onUseBandwidth}
              stale={store.planning}
            />
          ) : (
            <Typography color="text.secondary">
              No VPG follows this policy’s targets yet: add a planned VPG below.
            </Typography>
          )}
          {outcome.after.vpgs.length > 0 && (
            <PredictionChart plan={outcome.after} timeZone={outcome.timeZone} />
          )}
          <ProfilesTable
            vpgs={context?.vpgs ?? []}
            profiles={store.profiles}
            measuredMinutes={outcome.measuredMinutes}
            planned={store.planned}
            onProfile={store.setProfile}
            onAddPlanned={store.addPlanned}
            onRemovePlanned={store.removePlanned}
          />
          <JournalSizing
            plan={outcome.after}
            historyOf={(id) => context?.vpgs.find((v) => v.vpgId === id)?.journal.historySeconds}
          />
        </Stack>
      )}
    </Paper>
  );
}

const LEGEND: Readonly<Record<Verdict, string>> = {
  met: 'within target',
  'at-risk': 'near it or briefly over',
  missed: 'RPO alerts',
};

function Legend() {
  return (
    <Stack direction="row" sx={{ gap: 1.5 }} aria-label="Legend">
      {(Object.keys(VERDICT_COLOURS) as Verdict[]).map((v) => (
        <Stack key={v} direction="row" sx={{ alignItems: 'center', gap: 0.5 }}>
          <Box sx={{ width: 12, height: 12, borderRadius: '2px', bgcolor: VERDICT_COLOURS[v] }} />
          <Typography variant="caption">
            {VERDICT_LABELS[v]}: {LEGEND[v]}
          </Typography>
        </Stack>
      ))}
    </Stack>
  );
}

function formatAge(ms: number): string {
  if (ms < 60_000) return 'just now';
  return `${formatDuration(Math.round(ms / 60_000) * 60)} ago`;
}
