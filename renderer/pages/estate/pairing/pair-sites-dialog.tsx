import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { FormEvent } from 'react';
import { ErrorAlert } from '../../../components/error-alert';
import { findPairing } from '../../../../app/estate/pairings';
import { pairingLabel } from '../../../lib/pairings';
import { selectPairBlocker, usePairingStore } from '../../../stores/pairing-store';
import { selectSnapshot, useEstateStore } from '../../../stores/estate-store';
import { LinkStateChip } from './link-state-chip';
import { SiteSelect } from './site-select';

/**
 * Pair sites: choose the protected and the recovery site; the console has the first site's
 * agent issue a pairing token and the second's redeem it. Shows the result and then the link
 * coming up, live from the estate.
 */
export function PairSitesDialog() {
  const open = usePairingStore((s) => s.pairOpen);
  const protectedSiteId = usePairingStore((s) => s.protectedSiteId);
  const recoverySiteId = usePairingStore((s) => s.recoverySiteId);
  const busy = usePairingStore((s) => s.pairing);
  const error = usePairingStore((s) => s.pairError);
  const paired = usePairingStore((s) => s.paired);
  const blocker = usePairingStore(selectPairBlocker);
  const { choose, pair, closePair } = usePairingStore.getState();
  const snapshot = useEstateStore(selectSnapshot);
  if (!open || snapshot === undefined) return null;

  const existing =
    blocker === undefined
      ? findPairing(snapshot.pairings, protectedSiteId, recoverySiteId)
      : undefined;
  const live = paired && findPairing(snapshot.pairings, paired.siteId, paired.peerSiteId);
  const nameOf = (siteId: string): string =>
    snapshot.sites.find((s) => s.siteId === siteId)?.name ?? siteId;
  const canSubmit = !busy && paired === undefined && blocker === undefined && !existing;

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (canSubmit) void pair();
  };

  return (
    <Dialog
      open
      onClose={busy ? undefined : closePair}
      maxWidth="sm"
      fullWidth
      aria-labelledby="pair-sites-title"
    >
      <form onSubmit={submit} noValidate>
        <DialogTitle id="pair-sites-title">Pair sites</DialogTitle>
        <DialogContent>
          <DialogContentText>
            Pairing lets the protected site replicate its virtual machines to the recovery site. The
            agents exchange certificates and from then on only talk to each other over mutual TLS.
          </DialogContentText>
          <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2} sx={{ mt: 3 }}>
            <SiteSelect
              label="Protected site"
              helper="Where the VMs run today"
              snapshot={snapshot}
              value={protectedSiteId}
              exclude={recoverySiteId}
              disabled={busy || paired !== undefined}
              onChange={(id) => choose('protectedSiteId', id)}
            />
            <SiteSelect
              label="Recovery site"
              helper="Where they are brought up on failover"
              snapshot={snapshot}
              value={recoverySiteId}
              exclude={protectedSiteId}
              disabled={busy || paired !== undefined}
              onChange={(id) => choose('recoverySiteId', id)}
            />
          </Stack>
          <Box sx={{ mt: 3 }} aria-live="polite">
            {existing && paired === undefined && (
              <Alert severity="info">
                {pairingLabel(existing)} are already paired. Unpair them first to pair them again.
              </Alert>
            )}
            {busy && (
              <Stack spacing={1} role="progressbar" aria-label="Pairing the sites">
                <LinearProgress />
                <Typography variant="body2" color="text.secondary">
                  Pairing… {nameOf(protectedSiteId)} issues a pairing token,{' '}
                  {nameOf(recoverySiteId)} redeems it and the agents exchange certificates.
                </Typography>
              </Stack>
            )}
            {error && <ErrorAlert error={error} title="Could not pair the sites" />}
            {paired && (
              <Alert
                severity="success"
                action={
                  <LinkStateChip link={live?.link ?? paired.link} lastError={live?.lastError} />
                }
              >
                {paired.siteName} and {paired.peerSiteName} are paired.{' '}
                {(live?.link ?? paired.link) === 'connected'
                  ? 'Their agents are connected over mutual TLS.'
                  : 'Their agents are connecting over mutual TLS…'}
              </Alert>
            )}
          </Box>
        </DialogContent>
        <DialogActions sx={{ px: 3, pb: 2 }}>
          {paired ? (
            <Button variant="contained" onClick={closePair}>
              Done
            </Button>
          ) : (
            <>
              <Button onClick={closePair} disabled={busy}>
                Cancel
              </Button>
              <Button type="submit" variant="contained" disabled={!canSubmit} title={blocker}>
                Pair
              </Button>
            </>
          )}
        </DialogActions>
      </form>
    </Dialog>
  );
}
