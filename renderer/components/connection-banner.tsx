import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Button from '@mui/material/Button';
import { formatCountdown } from '../lib/format';
import { useNow } from '../lib/use-now';
import { selectIsReconnecting, useConnectionStore } from '../stores/connection-store';

/** Shown while the browser-mode link to the console core is down; the page keeps its last data. */
export function ConnectionBanner() {
  const reconnecting = useConnectionStore(selectIsReconnecting);
  const status = useConnectionStore((s) => s.status);
  const retryNow = useConnectionStore((s) => s.retryNow);
  const now = useNow(reconnecting);
  if (!reconnecting) return null;
  const when =
    status.state === 'lost' && status.nextRetryAt !== undefined
      ? `Next attempt in ${formatCountdown(status.nextRetryAt, now)}.`
      : 'Trying now…';
  return (
    <Alert
      severity="warning"
      variant="filled"
      sx={{ mb: 3, position: 'sticky', top: { xs: 64, sm: 72 }, zIndex: 'appBar' }}
      action={
        status.state === 'lost' ? (
          <Button color="inherit" size="small" onClick={retryNow} sx={{ whiteSpace: 'nowrap' }}>
            Reconnect now
          </Button>
        ) : undefined
      }
    >
      <AlertTitle>Console connection lost, reconnecting</AlertTitle>
      {when} What you see below may be out of date. If the console was restarted, open the new link
      it printed: this page cannot sign in again by itself.
    </Alert>
  );
}
