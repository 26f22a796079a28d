import VerifiedUser from '@mui/icons-material/VerifiedUser';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { ErrorAlert } from '../../../components/error-alert';
import { formatDate } from '../../../lib/format';
import { useAddAgentStore } from '../../../stores/add-agent-store';
import { monoFontFamily } from '../../../theme';
import { FingerprintBlock } from './fingerprint-block';

/** Step (b): the certificate the agent presented, to compare with what init printed. */
export function CertificateStep() {
  const certificate = useAddAgentStore((s) => s.certificate);
  const busy = useAddAgentStore((s) => s.busy);
  const error = useAddAgentStore((s) => s.error);
  const { back, close, trust } = useAddAgentStore.getState();
  if (certificate === undefined) return null;

  return (
    <>
      <DialogContent>
        <Typography sx={{ mb: 2 }}>
          The agent at{' '}
          <Box component="span" sx={{ fontFamily: monoFontFamily, fontWeight: 600 }}>
            {certificate.address}
          </Box>{' '}
          presents this certificate:
        </Typography>
        <Typography variant="overline" component="div" color="text.secondary">
          SHA-256 fingerprint
        </Typography>
        <FingerprintBlock fingerprint={certificate.fingerprint} label="Certificate fingerprint" />
        <Box
          component="dl"
          sx={{
            display: 'grid',
            gridTemplateColumns: 'max-content 1fr',
            columnGap: 2,
            rowGap: 0.5,
            my: 2,
          }}
        >
          <Row term="Subject" value={certificate.subject} />
          <Row term="Issuer" value={certificate.issuer} />
          <Row
            term="Valid"
            value={`${formatDate(certificate.validFrom)} – ${formatDate(certificate.validTo)}`}
          />
        </Box>
        <Alert severity="info" role="note" icon={<VerifiedUser />}>
          Compare this with the fingerprint printed by <strong>tideline-agent init</strong> on that
          host. Connect only if they are identical: a different fingerprint means you are not
          talking to your agent. The console pins it and will refuse a changed certificate later.
        </Alert>
        {error && (
          <ErrorAlert error={error} title="Could not connect to the agent" sx={{ mt: 2 }} />
        )}
      </DialogContent>
      <DialogActions sx={{ px: 3, pb: 2.5 }}>
        <Button onClick={back} disabled={busy}>
          Back
        </Button>
        <Stack direction="row" spacing={1} sx={{ ml: 'auto' }}>
          <Button onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button
            variant="contained"
            color="secondary"
            onClick={() => void trust()}
            disabled={busy}
            startIcon={busy ? <CircularProgress size={16} color="inherit" /> : undefined}
          >
            Trust and connect
          </Button>
        </Stack>
      </DialogActions>
    </>
  );
}

function Row({ term, value }: { term: string; value: string }) {
  return (
    <>
      <Typography component="dt" variant="body2" color="text.secondary">
        {term}
      </Typography>
      <Typography component="dd" variant="body2" sx={{ m: 0, wordBreak: 'break-word' }}>
        {value}
      </Typography>
    </>
  );
}
