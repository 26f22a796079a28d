import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import CircularProgress from '@mui/material/CircularProgress';
import Stack from '@mui/material/Stack';
import { ErrorAlert } from '../../../components/error-alert';
import { useCheckpointStore } from '../../../stores/checkpoint-store';

/** The checkpoints inserted here: waiting for the recovery site, confirmed there, or not. */
export function FollowedAlerts({ recoverySite }: { recoverySite: string }) {
  const followed = useCheckpointStore((s) => s.followed);
  const dismiss = useCheckpointStore((s) => s.dismissFollowed);
  const list = Object.values(followed).sort((a, b) => b.seq - a.seq);
  if (list.length === 0) return null;
  return (
    <Stack spacing={1.5} aria-live="polite">
      {list.map((f) => {
        if (f.state === 'pending') {
          return (
            <Alert key={f.seq} severity="info" icon={<CircularProgress size={20} />}>
              Checkpoint “{f.name}” inserted; waiting for {recoverySite} to confirm it…
            </Alert>
          );
        }
        if (f.state === 'confirmed') {
          return (
            <Alert key={f.seq} severity="success" onClose={() => dismiss(f.seq)}>
              <AlertTitle>Confirmed at the recovery site</AlertTitle>
              Checkpoint “{f.name}” is persisted at {recoverySite}: the VMs can be recovered to it.
            </Alert>
          );
        }
        return (
          <ErrorAlert
            key={f.seq}
            title={`Checkpoint “${f.name}” is not confirmed`}
            error={
              f.error ?? { code: 'UNAVAILABLE', message: 'The recovery site did not confirm it.' }
            }
            onClose={() => dismiss(f.seq)}
          />
        );
      })}
    </Stack>
  );
}
