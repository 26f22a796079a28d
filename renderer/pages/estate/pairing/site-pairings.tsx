import LinkOff from '@mui/icons-material/LinkOff';
import SyncAlt from '@mui/icons-material/SyncAlt';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import FormControlLabel from '@mui/material/FormControlLabel';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Switch from '@mui/material/Switch';
import Typography from '@mui/material/Typography';
import { useId } from 'react';
import type { SitePairing } from '../../../../app/protocol/console-api';
import { formatTime } from '../../../lib/format';
import { pairingLabel } from '../../../lib/pairings';
import { pairingKey, usePairingStore } from '../../../stores/pairing-store';
import { LinkStateChip } from './link-state-chip';

interface Props {
  readonly pairings: readonly SitePairing[];
}

/** Which sites are paired, how their link stands and since when; unpair from here. */
export function SitePairings({ pairings }: Props) {
  const headingId = useId();
  return (
    <Paper
      component="section"
      aria-labelledby={headingId}
      variant="outlined"
      sx={{ p: 3, borderRadius: 3 }}
    >
      <Typography variant="h2" id={headingId} sx={{ mb: 0.5 }}>
        Site pairings
      </Typography>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
        Paired sites’ agents replicate to each other over mutual TLS.
      </Typography>
      {pairings.length === 0 ? (
        <Typography variant="body2" color="text.secondary">
          No sites are paired yet. Pair a protected site with a recovery site to replicate between
          them.
        </Typography>
      ) : (
        <Box
          component="ul"
          aria-label="Site pairings"
          sx={{ m: 0, p: 0, display: 'grid', gap: 1.5 }}
        >
          {pairings.map((p) => (
            <PairingItem key={`${p.siteId}:${p.peerSiteId}`} pairing={p} />
          ))}
        </Box>
      )}
    </Paper>
  );
}

function PairingItem({ pairing }: { pairing: SitePairing }) {
  const askUnpair = usePairingStore((s) => s.askUnpair);
  return (
    <Box
      component="li"
      aria-label={pairingLabel(pairing)}
      sx={{
        listStyle: 'none',
        p: 2,
        border: 1,
        borderColor: 'divider',
        borderRadius: 2,
        display: 'flex',
        alignItems: 'center',
        gap: 2,
        flexWrap: 'wrap',
      }}
    >
      <SyncAlt sx={{ color: 'secondary.main' }} aria-hidden />
      <Stack sx={{ flexGrow: 1, minWidth: 0 }}>
        <Stack direction="row" spacing={1.5} sx={{ alignItems: 'center' }}>
          <Typography variant="subtitle1" component="h3" sx={{ fontWeight: 600 }}>
            {pairing.siteName}
            <Box component="span" sx={{ color: 'secondary.main', mx: 1 }}>
              ⇄
            </Box>
            {pairing.peerSiteName}
          </Typography>
          <LinkStateChip link={pairing.link} lastError={pairing.lastError} />
        </Stack>
        <Typography variant="body2" color="text.secondary">
          Paired since {formatTime(pairing.pairedAt)}
        </Typography>
      </Stack>
      <CompressionSwitch pairing={pairing} />
      <Button
        size="small"
        variant="outlined"
        color="error"
        startIcon={<LinkOff />}
        aria-label={`Unpair ${pairing.siteName} and ${pairing.peerSiteName}`}
        onClick={() => askUnpair(pairing)}
      >
        Unpair
      </Button>
    </Box>
  );
}

/**
 * LZ4 on the link, both ways: for WAN links, where bandwidth is scarcer than CPU. Shows how
 * much of the data went on the wire once some did.
 */
function CompressionSwitch({ pairing }: { pairing: SitePairing }) {
  const key = pairingKey(pairing);
  const busy = usePairingStore((s) => s.compressing.has(key));
  const error = usePairingStore((s) => s.compressionErrors.get(key));
  const setCompression = usePairingStore((s) => s.setCompression);
  const helpId = useId();
  const help =
    pairing.compression === 'mixed'
      ? 'Set one way only: switch it to apply both ways'
      : pairing.compression === 'lz4' && pairing.wireShare !== undefined
        ? `${Math.round(pairing.wireShare * 100)} % of the data on the wire`
        : 'Saves bandwidth on WAN links, costs CPU';
  return (
    <Stack>
      <FormControlLabel
        control={
          <Switch
            size="small"
            checked={pairing.compression === 'lz4'}
            disabled={busy}
            onChange={(_, on) => void setCompression(pairing, on)}
            slotProps={{ input: { 'aria-describedby': helpId } }}
          />
        }
        label="Compress (LZ4)"
      />
      <Typography id={helpId} variant="caption" color="text.secondary">
        {help}
      </Typography>
      {error !== undefined && (
        <Typography role="alert" variant="caption" color="error">
          {error.message}
        </Typography>
      )}
    </Stack>
  );
}
