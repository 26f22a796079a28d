import PlayCircleOutline from '@mui/icons-material/PlayCircleOutlined';
import Restore from '@mui/icons-material/Restore';
import TravelExplore from '@mui/icons-material/TravelExplore';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useMemo } from 'react';
import { EmptyState } from '../../components/empty-state';
import { ErrorAlert } from '../../components/error-alert';
import { LoadState } from '../../components/load-state';
import { latestByVpg, viewedFailover } from '../../lib/recovery';
import { selectLoadError, selectSnapshot, useEstateStore } from '../../stores/estate-store';
import { useCleanPointStore } from '../../stores/clean-point-store';
import { failoverList, useRecoveryStore } from '../../stores/recovery-store';
import { CleanPointDialog } from './clean-point/clean-point-dialog';
import { FailoverHistory } from './failover-history';
import { FailoverView } from './failover-view';
import { RecoveryVpgTable } from './recovery-vpg-table';
import { UnreachableBanners } from './unreachable-banner';
import { FailoverWizardDialog } from './wizard/failover-wizard-dialog';

/** Failovers: the VPGs and where they would recover, the wizard, and a failover as it runs. */
export function RecoveryPage() {
  const snapshot = useEstateStore(selectSnapshot);
  const estateError = useEstateStore(selectLoadError);
  const refreshEstate = useEstateStore((s) => s.refresh);
  const failoverMap = useRecoveryStore((s) => s.failovers);
  const loadError = useRecoveryStore((s) => s.loadError);
  const load = useRecoveryStore((s) => s.load);
  const viewed = useRecoveryStore((s) => s.viewed);
  const openWizard = useRecoveryStore((s) => s.openWizard);
  const openCleanPoint = useCleanPointStore((s) => s.open);
  const failovers = useMemo(() => failoverList(failoverMap), [failoverMap]);
  const latest = useMemo(() => latestByVpg(failovers), [failovers]);
  const vpgs = snapshot?.vpgs ?? [];

  if (viewed !== undefined && snapshot !== undefined) {
    const vpgName = vpgs.find((v) => v.vpgId === viewed.vpgId)?.name ?? viewed.vpgId;
    return (
      <Box>
        <FailoverView
          viewed={viewed}
          failover={viewedFailover(failovers, viewed)}
          vpgName={vpgName}
          snapshot={snapshot}
        />
        <FailoverWizardDialog snapshot={snapshot} />
      </Box>
    );
  }

  return (
    <Box>
      <Stack direction="row" sx={{ alignItems: 'center', mb: 3, gap: 2 }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h1">Recovery</Typography>
          <Typography color="text.secondary">
            Bring VPGs up at their recovery site: rehearse with a test, fail over live in an
            incident, or move them in a planned migration
          </Typography>
        </Box>
        {vpgs.length > 0 && (
          <Button
            variant="outlined"
            size="large"
            startIcon={<TravelExplore />}
            onClick={() => openCleanPoint(vpgs.length === 1 ? vpgs[0] : undefined)}
            sx={{ flexShrink: 0, whiteSpace: 'nowrap' }}
          >
            Find the last clean point…
          </Button>
        )}
        {vpgs.length > 0 && (
          <Button
            variant="contained"
            color="error"
            size="large"
            startIcon={<PlayCircleOutline />}
            onClick={() => openWizard()}
            sx={{ flexShrink: 0, whiteSpace: 'nowrap' }}
          >
            Start failover…
          </Button>
        )}
      </Stack>

      <LoadState
        error={estateError}
        loading={snapshot === undefined}
        loadingText="Loading the VPGs…"
        onRetry={refreshEstate}
      />

      {snapshot && vpgs.length === 0 && (
        <EmptyState icon={<Restore />} title="Nothing to recover yet">
          <Typography color="text.secondary">
            Protect VMs in a VPG first (Protection → New VPG). Once its recovery site holds a
            checkpoint, the VPG can be tested or failed over from here.
          </Typography>
        </EmptyState>
      )}

      {snapshot && vpgs.length > 0 && (
        <Stack spacing={3}>
          <UnreachableBanners snapshot={snapshot} vpgs={vpgs} />
          {loadError && (
            <ErrorAlert
              error={loadError}
              title="Could not load the failovers"
              action={
                <Button color="inherit" size="small" onClick={() => void load()}>
                  Try again
                </Button>
              }
            />
          )}
          <RecoveryVpgTable vpgs={vpgs} snapshot={snapshot} latest={latest} />
          <FailoverHistory failovers={failovers} />
        </Stack>
      )}
      {snapshot && <FailoverWizardDialog snapshot={snapshot} />}
      {snapshot && <CleanPointDialog snapshot={snapshot} />}
    </Box>
  );
}
