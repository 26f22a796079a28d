import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import List from '@mui/material/List';
import ListItem from '@mui/material/ListItem';
import ListItemText from '@mui/material/ListItemText';
import Typography from '@mui/material/Typography';
import type { FieldChange, PolicyDiff } from '../../../app/policy/diff';
import type { Timeframe } from '../../../app/policy/policy-schemas';
import { ErrorAlert } from '../../components/error-alert';
import { formatLimits, formatRate, formatRpo } from '../../lib/policy-units';
import { usePoliciesStore } from '../../stores/policies-store';

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

const when = (tf: Timeframe): string =>
  `${tf.days.map((d) => DAYS[d - 1]).join(', ')} ${tf.start}–${tf.end}`;

function fieldValue(field: string, v: unknown): string {
  if (field === 'rpoTargetSeconds') return typeof v === 'number' ? formatRpo(v) : '—';
  if (field.endsWith('BitsPerSecond')) return formatRate(typeof v === 'number' ? v : undefined);
  if (Array.isArray(v)) return v.map((d) => DAYS[Number(d) - 1]).join(', ');
  return v === undefined ? '—' : String(v);
}

const FIELD_LABELS: Record<string, string> = {
  rpoTargetSeconds: 'RPO target',
  replicationBitsPerSecond: 'bandwidth',
  seedingBitsPerSecond: 'seeding',
};

const change = (c: FieldChange): string =>
  `${FIELD_LABELS[c.field] ?? c.field}: ${fieldValue(c.field, c.from)} → ${fieldValue(c.field, c.to)}`;

function DiffList({ diff }: { diff: PolicyDiff }) {
  if (diff.empty) return <Typography>The draft is the same as the agent’s policy.</Typography>;
  return (
    <List dense aria-label="Changes">
      {diff.timeZone && (
        <ListItem>
          <ListItemText
            primary={`Time zone: ${diff.timeZone.from ?? 'none'} → ${diff.timeZone.to}`}
          />
        </ListItem>
      )}
      {diff.defaultChanges.length > 0 && (
        <ListItem>
          <ListItemText primary="Default" secondary={diff.defaultChanges.map(change).join(' · ')} />
        </ListItem>
      )}
      {diff.added.map((t) => (
        <ListItem key={`a-${t.id}`}>
          <ListItemText
            primary={`Added: ${t.name}`}
            secondary={`${when(t)} · ${formatLimits(t)}`}
          />
        </ListItem>
      ))}
      {diff.changed.map((t) => (
        <ListItem key={`c-${t.id}`}>
          <ListItemText
            primary={`Changed: ${t.name}`}
            secondary={t.changes.map(change).join(' · ')}
          />
        </ListItem>
      ))}
      {diff.removed.map((t) => (
        <ListItem key={`r-${t.id}`}>
          <ListItemText primary={`Removed: ${t.name}`} secondary={when(t)} />
        </ListItem>
      ))}
    </List>
  );
}

/** The diff against the agent's policy, a version conflict with its rebase, then apply. */
export function ApplyDialog() {
  const apply = usePoliciesStore((s) => s.apply);
  const close = usePoliciesStore((s) => s.closeApply);
  const confirm = usePoliciesStore((s) => s.confirmApply);
  const rebase = usePoliciesStore((s) => s.rebase);
  if (apply === undefined) return null;
  return (
    <Dialog open onClose={close} maxWidth="sm" fullWidth aria-labelledby="apply-title">
      <DialogTitle id="apply-title">Apply the draft</DialogTitle>
      <DialogContent>
        {apply.loading && <CircularProgress size={24} aria-label="Loading the agent’s policy" />}
        {apply.applied && (
          <Alert severity="success" sx={{ mb: 2 }}>
            Applied: the agent now runs policy version {apply.applied.policy?.version}.
          </Alert>
        )}
        {apply.conflict && !apply.applied && (
          <Alert
            severity="warning"
            sx={{ mb: 2 }}
            action={
              <Button color="inherit" size="small" onClick={() => void rebase()}>
                Rebase
              </Button>
            }
          >
            The agent’s policy changed since this draft was started (draft from version{' '}
            {apply.conflict.baseVersion}, agent now at {apply.conflict.agentVersion}). Review the
            changes below, then rebase to apply your timeframes over it.
          </Alert>
        )}
        {apply.error && <ErrorAlert error={apply.error} sx={{ mb: 2 }} />}
        {apply.diff && !apply.applied && <DiffList diff={apply.diff} />}
      </DialogContent>
      <DialogActions>
        <Button onClick={close}>{apply.applied ? 'Close' : 'Cancel'}</Button>
        {!apply.applied && (
          <Button
            variant="contained"
            onClick={() => void confirm()}
            disabled={
              apply.loading || apply.applying || apply.conflict !== undefined || !apply.diff
            }
          >
            Apply
          </Button>
        )}
      </DialogActions>
    </Dialog>
  );
}
