import NotificationsNone from '@mui/icons-material/NotificationsNone';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useMemo } from 'react';
import { EmptyState } from '../../components/empty-state';
import { ErrorAlert } from '../../components/error-alert';
import { pluralize } from '../../lib/format';
import { siteName as siteNameOf } from '../../lib/protection';
import { useAlertsStore } from '../../stores/alerts-store';
import { selectSnapshot, useEstateStore } from '../../stores/estate-store';
import { AlertFiltersBar } from './alert-filters-bar';
import { alertVpgs, filterAlerts, unacknowledgedRaised } from './alert-list';
import { AlertsTable } from './alerts-table';
import { DesktopNotifications } from './desktop-notifications';
import { RepeatedMissesBox } from './repeated-misses-box';

/** The connected agents' RPO and journal alerts, raised and cleared: filter, acknowledge. */
export function AlertsPage({ onPlan }: { onPlan: (vpgId: string) => void }) {
  const alerts = useAlertsStore((s) => s.alerts);
  const loaded = useAlertsStore((s) => s.loaded);
  const loadError = useAlertsStore((s) => s.loadError);
  const load = useAlertsStore((s) => s.load);
  const filters = useAlertsStore((s) => s.filters);
  const clearFilters = useAlertsStore((s) => s.clearFilters);
  const ackError = useAlertsStore((s) => s.ackError);
  const dismissAckError = useAlertsStore((s) => s.dismissAckError);
  const snapshot = useEstateStore(selectSnapshot);

  const siteName = (siteId: string): string => siteNameOf(snapshot, siteId);
  const shown = filterAlerts(alerts, filters, siteName);
  const total = Object.keys(alerts).length;
  const open = unacknowledgedRaised(alerts);
  const vpgs = useMemo(() => alertVpgs(alerts), [alerts]);
  const sites = snapshot?.sites ?? [];

  return (
    <Box>
      <Stack direction="row" sx={{ alignItems: 'center', mb: 3, gap: 2 }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h1">Alerts</Typography>
          <Typography color="text.secondary">
            RPO over its target for longer than the grace period, and journal warnings, as the
            connected agents raise and clear them
          </Typography>
        </Box>
        {total > 0 && (
          <Typography role="status" sx={{ fontWeight: 600, whiteSpace: 'nowrap' }}>
            {open === 0
              ? 'Nothing to acknowledge'
              : `${pluralize(open, 'raised alert')} not acknowledged`}
          </Typography>
        )}
      </Stack>

      <Stack spacing={2.5}>
        <DesktopNotifications />
        <RepeatedMissesBox alerts={alerts} onPlan={onPlan} />
        {loadError && (
          <ErrorAlert
            error={loadError}
            title="Could not load the alerts"
            action={
              <Button color="inherit" size="small" onClick={() => void load()}>
                Try again
              </Button>
            }
          />
        )}
        {ackError && (
          <ErrorAlert
            error={ackError.error}
            title="Could not acknowledge the alert"
            onClose={dismissAckError}
          />
        )}
        {!loaded && !loadError && (
          <Stack
            direction="row"
            spacing={2}
            sx={{ alignItems: 'center', py: 6, justifyContent: 'center' }}
          >
            <CircularProgress size={24} />
            <Typography color="text.secondary">Loading the alerts…</Typography>
          </Stack>
        )}
        {loaded && total === 0 && (
          <EmptyState icon={<NotificationsNone />} title="No alerts">
            <Typography color="text.secondary" sx={{ maxWidth: 600, mx: 'auto' }}>
              When a VPG’s RPO stays over the target of the timeframe in force for longer than the
              grace period, or a journal nears its limits, its agent raises an alert and it shows
              here. Alerts of agents that are not connected show once they are.
            </Typography>
          </EmptyState>
        )}
        {loaded && total > 0 && (
          <>
            <AlertFiltersBar vpgs={vpgs} sites={sites} />
            {shown.length > 0 ? (
              <AlertsTable alerts={shown} siteName={siteName} />
            ) : (
              <EmptyState icon={<NotificationsNone />} title="No alerts match these filters">
                <Button onClick={clearFilters}>Clear filters</Button>
              </EmptyState>
            )}
            <Typography variant="caption" color="text.secondary">
              Showing {shown.length} of {pluralize(total, 'alert')}, newest first. Times are in your
              time zone.
            </Typography>
          </>
        )}
      </Stack>
    </Box>
  );
}
