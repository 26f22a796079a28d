import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import Divider from '@mui/material/Divider';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { formatRate, formatSize } from '../../../lib/protection';
import { selectHistory, useProtectionStore } from '../../../stores/protection-store';
import { JournalBar } from '../journal-bar';
import { RpoGauge } from '../rpo-gauge';
import { useLiveFigures } from '../use-live-figures';
import { RpoTrend } from './rpo-trend';
import { SimLoad, isSimulated } from './sim-load';

const NO_POINTS: never[] = [];

/** The VPG now: RPO against its target, its trend, throughput, backlog, journal use. */
export function LiveCard({ vpg, snapshot }: { vpg: VpgView; snapshot: EstateSnapshot }) {
  const live = useLiveFigures(vpg);
  const history = useProtectionStore(selectHistory(vpg.vpgId)) ?? NO_POINTS;
  return (
    <Paper
      component="section"
      aria-label="Live"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3, height: '100%' }}
    >
      <Stack direction="row" sx={{ alignItems: 'baseline', mb: 2 }}>
        <Typography variant="h2" sx={{ flexGrow: 1 }}>
          Live
        </Typography>
        <Typography variant="caption" color={live.live ? 'success.main' : 'text.secondary'}>
          {live.live ? '● Updated every second' : 'No live figures: showing the last known state'}
        </Typography>
      </Stack>
      <Stack direction={{ xs: 'column', md: 'row' }} spacing={4} sx={{ alignItems: 'center' }}>
        <RpoGauge
          rpoSeconds={live.rpoSeconds}
          targetSeconds={live.rpoTargetSeconds}
          label={`RPO of ${vpg.name}`}
          size="large"
          live={live.live}
        />
        <Box sx={{ flexGrow: 1, minWidth: 0, width: '100%' }}>
          <RpoTrend points={history} targetSeconds={live.rpoTargetSeconds} />
        </Box>
      </Stack>
      <Box
        component="dl"
        sx={{
          m: 0,
          mt: 3,
          display: 'grid',
          gap: 2,
          gridTemplateColumns: 'repeat(4, minmax(0, 1fr))',
          '& dt': { color: 'text.secondary', fontSize: '0.8125rem' },
          '& dd': {
            m: 0,
            mt: 0.5,
            fontWeight: 600,
            fontSize: '1.05rem',
            fontVariantNumeric: 'tabular-nums',
          },
        }}
      >
        <Figure
          label="Written"
          value={
            live.writtenBytesPerSecond === undefined ? '—' : formatRate(live.writtenBytesPerSecond)
          }
        />
        <Figure
          label="Sent"
          value={live.sentBytesPerSecond === undefined ? '—' : formatRate(live.sentBytesPerSecond)}
        />
        <Figure label="Backlog" value={formatSize(live.backlogBytes)} />
        <Box>
          <dt>Journal</dt>
          <Box component="dd">
            <JournalBar
              journalBytes={live.journalBytes}
              hardLimitBytes={live.journalHardLimitBytes}
              warningBytes={vpg.journal.warningBytes}
              width="100%"
            />
          </Box>
        </Box>
      </Box>
      {isSimulated(vpg, snapshot) && (
        <>
          <Divider sx={{ my: 2.5 }} />
          <SimLoad vpg={vpg} />
        </>
      )}
    </Paper>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <Box>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </Box>
  );
}
