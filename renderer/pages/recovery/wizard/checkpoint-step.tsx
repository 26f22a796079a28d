import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import CircularProgress from '@mui/material/CircularProgress';
import FormControlLabel from '@mui/material/FormControlLabel';
import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListItemText from '@mui/material/ListItemText';
import Radio from '@mui/material/Radio';
import RadioGroup from '@mui/material/RadioGroup';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { CheckpointChoice } from '../../../../app/recovery/recovery-schemas';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { ErrorAlert } from '../../../components/error-alert';
import { formatSourceTime } from '../../../lib/protection';
import { offeredCheckpoints, resolveChoice, testedText } from '../../../lib/recovery';
import { useRecoveryStore } from '../../../stores/recovery-store';
import { CheckpointTimeline } from './checkpoint-timeline';

/** How many checkpoints the list offers (newest first; named and tested ones always). */
const LISTED = 40;

/** Latest, latest named, or one picked on the journal's timeline or in the list. */
export function CheckpointStep() {
  const form = useRecoveryStore((s) => s.form);
  const checkpoints = useRecoveryStore((s) => s.checkpoints);
  const loading = useRecoveryStore((s) => s.checkpointsLoading);
  const error = useRecoveryStore((s) => s.checkpointsError);
  const patchForm = useRecoveryStore((s) => s.patchForm);

  if (form.mode === 'move') {
    return (
      <Alert severity="info">
        A move shuts the protected VMs down, sends their last writes and inserts a checkpoint of its
        own: the VMs are recovered at it, with no data lost. There is nothing to choose here.
      </Alert>
    );
  }

  const choose = (checkpoint: CheckpointChoice): void => patchForm({ checkpoint });
  const resolved = resolveChoice(form.checkpoint, checkpoints);
  const latest = resolveChoice({ kind: 'latest' }, checkpoints);
  const latestNamed = resolveChoice({ kind: 'latestNamed' }, checkpoints);
  const offered = offeredCheckpoints(checkpoints).reverse();
  const listed = offered.filter(
    (c, i) => i < LISTED || c.name !== undefined || c.tested !== undefined,
  );
  const hidden = checkpoints.length - offered.length;

  return (
    <Stack spacing={2}>
      <Typography color="text.secondary">
        The VMs come up as they were at the checkpoint&apos;s time at the protected site. Only
        checkpoints the recovery site holds and that are consistent are offered.
      </Typography>
      {error && <ErrorAlert error={error} title="Could not load the checkpoints" />}
      {loading && checkpoints.length === 0 && (
        <Stack direction="row" spacing={1.5} sx={{ alignItems: 'center' }}>
          <CircularProgress size={18} />
          <Typography color="text.secondary">
            Asking the recovery site for its checkpoints…
          </Typography>
        </Stack>
      )}
      <CheckpointTimeline
        checkpoints={checkpoints}
        selectedSeq={resolved?.seq}
        onPick={(seq) => choose({ kind: 'seq', seq })}
      />
      <RadioGroup
        aria-label="Checkpoint"
        value={form.checkpoint.kind}
        onChange={(e) => {
          const kind = e.target.value as CheckpointChoice['kind'];
          if (kind === 'seq') choose({ kind, seq: resolved?.seq ?? latest?.seq ?? 1 });
          else choose({ kind });
        }}
      >
        <FormControlLabel
          value="latest"
          control={<Radio />}
          label={<ChoiceLabel title="Latest checkpoint" checkpoint={latest} />}
        />
        <FormControlLabel
          value="latestNamed"
          control={<Radio />}
          disabled={latestNamed === undefined}
          label={<ChoiceLabel title="Latest named checkpoint" checkpoint={latestNamed} />}
        />
        <FormControlLabel
          value="seq"
          control={<Radio />}
          disabled={offered.length === 0}
          label={
            <ChoiceLabel
              title="A specific checkpoint"
              checkpoint={form.checkpoint.kind === 'seq' ? resolved : undefined}
            />
          }
        />
      </RadioGroup>
      {form.checkpoint.kind === 'seq' && (
        <Box
          sx={{
            border: 1,
            borderColor: 'divider',
            borderRadius: 2,
            maxHeight: 240,
            overflow: 'auto',
          }}
        >
          <List dense aria-label="Checkpoints" disablePadding>
            {listed.map((c) => (
              <ListItemButton
                key={c.seq}
                selected={c.seq === resolved?.seq}
                onClick={() => choose({ kind: 'seq', seq: c.seq })}
                aria-label={`Checkpoint ${c.name ?? formatSourceTime(c.sourceTime)}`}
              >
                <ListItemText
                  primary={formatSourceTime(c.sourceTime)}
                  secondary={
                    [
                      c.name,
                      c.tested !== undefined &&
                        `${testedText(c) ?? ''}${c.tested.note ? ` — ${c.tested.note}` : ''}`,
                    ]
                      .filter(Boolean)
                      .join(' · ') || undefined
                  }
                  slotProps={{ primary: { sx: { fontVariantNumeric: 'tabular-nums' } } }}
                />
                <CheckpointChips checkpoint={c} />
              </ListItemButton>
            ))}
          </List>
        </Box>
      )}
      {hidden > 0 && (
        <Typography variant="caption" color="text.secondary">
          {hidden} checkpoint{hidden === 1 ? ' is' : 's are'} not offered: not yet at the recovery
          site, or taken during a sync.
        </Typography>
      )}
    </Stack>
  );
}

function ChoiceLabel({
  title,
  checkpoint,
}: {
  title: string;
  checkpoint: CheckpointInfo | undefined;
}) {
  return (
    <Stack direction="row" spacing={1} sx={{ alignItems: 'center', py: 0.5 }}>
      <Typography sx={{ fontWeight: 600 }}>{title}</Typography>
      {checkpoint && (
        <>
          <Typography variant="body2" color="text.secondary">
            {checkpoint.name ? `${checkpoint.name} · ` : ''}
            {formatSourceTime(checkpoint.sourceTime)}
          </Typography>
          <CheckpointChips checkpoint={checkpoint} />
        </>
      )}
    </Stack>
  );
}

export function CheckpointChips({ checkpoint }: { checkpoint: CheckpointInfo }) {
  const tested = testedText(checkpoint);
  return (
    <Stack direction="row" spacing={0.5}>
      {checkpoint.name !== undefined && (
        <Chip size="small" label="Named" color="primary" variant="outlined" />
      )}
      {tested !== undefined && (
        <Chip
          size="small"
          label={checkpoint.tested?.result === 'Failed' ? 'Test failed' : 'Tested'}
          color={checkpoint.tested?.result === 'Failed' ? 'error' : 'success'}
          title={[tested, checkpoint.tested?.note].filter(Boolean).join(' — ')}
        />
      )}
    </Stack>
  );
}
