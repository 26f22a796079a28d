import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { ErrorView } from '../../app/protocol/console-api';
import { ErrorAlert } from './error-alert';

interface Props {
  readonly error: ErrorView | undefined;
  readonly loading: boolean;
  /** e.g. "Loading the estate…" */
  readonly loadingText: string;
  readonly onRetry: () => Promise<void>;
}

/** What a page shows while the estate it draws from is loading or failed to load. */
export function LoadState({ error, loading, loadingText, onRetry }: Props) {
  if (error) {
    return (
      <ErrorAlert
        error={error}
        title="Could not load the estate"
        sx={{ mb: 3 }}
        action={
          <Button color="inherit" size="small" onClick={() => void onRetry()}>
            Try again
          </Button>
        }
      />
    );
  }
  if (!loading) return null;
  return (
    <Stack
      direction="row"
      spacing={2}
      sx={{ alignItems: 'center', py: 6, justifyContent: 'center' }}
    >
      <CircularProgress size={24} />
      <Typography color="text.secondary">{loadingText}</Typography>
    </Stack>
  );
}
