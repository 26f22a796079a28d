import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import FormLabel from '@mui/material/FormLabel';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import type { SupportAgentProgress } from '../../app/protocol/console-support-api';
import type { SupportLevel } from '../../app/protocol/support-api';
import { selectSnapshot, useEstateStore } from '../stores/estate-store';
import { useSupportStore, type SupportRange } from '../stores/support-store';
import { ErrorAlert } from './error-alert';

const RANGES: { value: SupportRange; label: string }[] = [
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
];
const LEVELS: { value: SupportLevel; label: string }[] = [
  { value: 'info', label: 'Info' },
  { value: 'debug', label: 'Debug' },
  { value: 'trace', label: 'Trace' },
];
const PARTS = [
  { key: 'logs', label: 'Agent logs' },
  { key: 'state', label: 'State summaries (VPGs, journals, peers, tasks)' },
  { key: 'system', label: 'System facts' },
] as const;

const STATE_TEXT: Record<SupportAgentProgress['state'], string> = {
  waiting: 'Waiting',
  collecting: 'Collecting',
  downloading: 'Downloading',
  done: 'Done',
  failed: 'Failed',
};

/**
 * Support bundle: the agents to collect from (the connected ones by default), a time range,
 * the detail of the logs and what to include; then the progress of each agent, and the
 * archive saved as one tar.gz. Tokens and keys never go in: the agents and the console redact.
 */
export function SupportDialog() {
  const open = useSupportStore((s) => s.open);
  const chosen = useSupportStore((s) => s.agentKeys);
  const range = useSupportStore((s) => s.range);
  const level = useSupportStore((s) => s.level);
  const include = useSupportStore((s) => s.include);
  const collection = useSupportStore((s) => s.collection);
  const starting = useSupportStore((s) => s.starting);
  const saving = useSupportStore((s) => s.saving);
  const saved = useSupportStore((s) => s.saved);
  const error = useSupportStore((s) => s.error);
  const store = useSupportStore.getState();
  const snapshot = useEstateStore(selectSnapshot);
  if (!open || snapshot === undefined) return null;

  const collecting = starting || collection?.state === 'collecting';
  const ready = collection?.state === 'ready';
  const choosing = collection === undefined && !starting;
  const nothing = !include.logs && !include.state && !include.system;

  return (
    <Dialog
      open
      onClose={saving === undefined ? store.close : undefined}
      maxWidth="sm"
      fullWidth
      aria-labelledby="support-title"
    >
      <DialogTitle id="support-title">Support bundle</DialogTitle>
      <DialogContent>
        <DialogContentText sx={{ mb: 2 }}>
          Logs, state and system facts of the chosen agents and the console’s own log, in one tar.gz
          for support. Tokens and keys are removed before anything leaves an agent.
        </DialogContentText>
        {choosing && (
          <Stack spacing={2}>
            <Box>
              <FormLabel component="legend">Agents</FormLabel>
              <FormGroup>
                {snapshot.agents.map((agent) => (
                  <FormControlLabel
                    key={agent.key}
                    control={
                      <Checkbox
                        checked={chosen.includes(agent.key)}
                        onChange={() => store.toggleAgent(agent.key)}
                      />
                    }
                    label={`${agent.identity ? `${agent.identity.siteName} / ${agent.identity.hostName}` : agent.address}${agent.state === 'connected' ? '' : ` (${agent.state})`}`}
                  />
                ))}
              </FormGroup>
            </Box>
            <Choice label="Time range" options={RANGES} value={range} onChange={store.setRange} />
            <Choice label="Log detail" options={LEVELS} value={level} onChange={store.setLevel} />
            <Box>
              <FormLabel component="legend">Include</FormLabel>
              <FormGroup>
                {PARTS.map((part) => (
                  <FormControlLabel
                    key={part.key}
                    control={
                      <Checkbox
                        checked={include[part.key]}
                        onChange={() => store.toggleInclude(part.key)}
                      />
                    }
                    label={part.label}
                  />
                ))}
              </FormGroup>
            </Box>
          </Stack>
        )}
        {collection !== undefined && <Progress />}
        {saving !== undefined && (
          <Box sx={{ mt: 2 }}>
            <Typography variant="body2">Saving {collection?.fileName}…</Typography>
            <LinearProgress variant="determinate" value={saving * 100} />
          </Box>
        )}
        {saved && (
          <Typography sx={{ mt: 2 }} color="success.main" data-testid="support-saved">
            Saved {collection?.fileName}.
          </Typography>
        )}
        {collection?.state === 'failed' && collection.error !== undefined && (
          <ErrorAlert
            sx={{ mt: 2 }}
            title="The bundle could not be written"
            error={{ code: 'INTERNAL_ERROR', message: collection.error }}
          />
        )}
        {error !== undefined && <ErrorAlert sx={{ mt: 2 }} error={error} />}
      </DialogContent>
      <DialogActions>
        <Button onClick={store.close} disabled={saving !== undefined}>
          {saved ? 'Close' : 'Cancel'}
        </Button>
        {choosing && (
          <Button
            variant="contained"
            onClick={() => void store.collect()}
            disabled={chosen.length === 0 || nothing}
          >
            Collect
          </Button>
        )}
        {(collecting || ready) && (
          <Button
            variant="contained"
            onClick={() => void store.save()}
            disabled={!ready || saving !== undefined}
          >
            Save bundle
          </Button>
        )}
      </DialogActions>
    </Dialog>
  );
}

/** One of a few options, as a row of toggle buttons under a label. */
function Choice<T extends string>(props: {
  label: string;
  options: readonly { value: T; label: string }[];
  value: T;
  onChange: (value: T) => void;
}) {
  return (
    <Box>
      <FormLabel component="legend" sx={{ mb: 0.5 }}>
        {props.label}
      </FormLabel>
      <ToggleButtonGroup
        exclusive
        size="small"
        value={props.value}
        onChange={(_e, value: T | null) => value && props.onChange(value)}
        aria-label={props.label}
      >
        {props.options.map((o) => (
          <ToggleButton key={o.value} value={o.value}>
            {o.label}
          </ToggleButton>
        ))}
      </ToggleButtonGroup>
    </Box>
  );
}

function Progress() {
  const collection = useSupportStore((s) => s.collection);
  if (collection === undefined) return null;
  return (
    <Stack spacing={1.5} data-testid="support-progress">
      <Box>
        <Typography variant="body2">
          {collection.state === 'ready'
            ? `Ready: ${collection.fileName} (${archiveSize(collection.bytes ?? 0)})`
            : collection.state === 'failed'
              ? 'Failed'
              : 'Collecting…'}
        </Typography>
        <LinearProgress
          variant="determinate"
          value={collection.state === 'collecting' ? collection.progress * 100 : 100}
          aria-label="Support bundle progress"
        />
      </Box>
      {collection.agents.map((agent) => (
        <Box key={agent.agentKey}>
          <Stack direction="row" sx={{ justifyContent: 'space-between' }}>
            <Typography variant="body2">{agent.name}</Typography>
            <Typography
              variant="body2"
              color={agent.state === 'failed' ? 'error.main' : 'text.secondary'}
            >
              {STATE_TEXT[agent.state]}
            </Typography>
          </Stack>
          {agent.message !== undefined && (
            <Typography variant="caption" color="error.main">
              {agent.message} — listed in the bundle’s problems.json
            </Typography>
          )}
        </Box>
      ))}
    </Stack>
  );
}

/** A bundle is KiB to MiB: lib/format's GiB would read "0 GiB". */
function archiveSize(bytes: number): string {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
