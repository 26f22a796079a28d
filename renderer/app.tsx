import CalendarMonth from '@mui/icons-material/CalendarMonth';
import NotificationsActive from '@mui/icons-material/NotificationsActive';
import Badge from '@mui/material/Badge';
import Public from '@mui/icons-material/Public';
import Restore from '@mui/icons-material/Restore';
import Shield from '@mui/icons-material/Shield';
import { startTransition, useEffect, useState } from 'react';
import type { NavItem } from './components/app-shell';
import { AppShell } from './components/app-shell';
import { EstatePage } from './pages/estate/estate-page';
import { PoliciesPage } from './pages/policies/policies-page';
import { linkTargetOfVpg } from './lib/policy-targets';
import { usePoliciesStore } from './stores/policies-store';
import { AlertsPage } from './pages/alerts/alerts-page';
import { unacknowledgedRaised } from './pages/alerts/alert-list';
import { useAlertsStore } from './stores/alerts-store';
import { ProtectionPage } from './pages/protection/protection-page';
import { RecoveryPage } from './pages/recovery/recovery-page';
import { useConnectionStore } from './stores/connection-store';
import { useEstateStore } from './stores/estate-store';
import { useProtectionStore } from './stores/protection-store';
import { useRecoveryStore } from './stores/recovery-store';
import { useHostsStore } from './stores/hosts-store';
import { useTasksStore } from './stores/tasks-store';

type PageKey = 'estate' | 'protection' | 'recovery' | 'policies' | 'alerts';

/** Only pages that work are listed; each new page adds an item here. */
const NAV: readonly NavItem<PageKey>[] = [
  { key: 'estate', label: 'Estate', icon: <Public /> },
  { key: 'protection', label: 'Protection', icon: <Shield /> },
  { key: 'recovery', label: 'Recovery', icon: <Restore /> },
  { key: 'policies', label: 'Policies', icon: <CalendarMonth /> },
];

export function App() {
  const [page, setPage] = useState<PageKey>('estate');
  const startConnection = useConnectionStore((s) => s.start);
  const startEstate = useEstateStore((s) => s.start);
  const startProtection = useProtectionStore((s) => s.start);
  const startAlerts = useAlertsStore((s) => s.start);
  const startRecovery = useRecoveryStore((s) => s.start);
  const startHosts = useHostsStore((s) => s.start);
  const startTasks = useTasksStore((s) => s.start);
  const openAlerts = useAlertsStore((s) => s.openRequests);
  const unacknowledged = useAlertsStore((s) => unacknowledgedRaised(s.alerts));
  const closeVpg = useProtectionStore((s) => s.closeVpg);
  /** From a repeated RPO miss to the planner's suggestion, on the VPG's link. */
  const planVpg = (vpgId: string): void => {
    const { snapshot } = useEstateStore.getState();
    const { drafts, select } = usePoliciesStore.getState();
    const link = linkTargetOfVpg(snapshot, drafts, vpgId);
    setPage('policies');
    if (link !== undefined) void select(link.key, link.name);
  };
  const navigate = (key: PageKey): void => {
    if (key === 'protection') closeVpg(); // the nav item leads to the VPG list
    // A page of a large estate takes longer to draw than a frame: as a transition React draws
    // it in slices between frames, so the click paints at once and ticks keep flowing.
    startTransition(() => setPage(key));
  };

  useEffect(() => {
    const stopConnection = startConnection();
    const stopEstate = startEstate();
    const stopProtection = startProtection();
    const stopAlerts = startAlerts();
    const stopRecovery = startRecovery();
    const stopHosts = startHosts();
    const stopTasks = startTasks();
    return () => {
      stopTasks();
      stopHosts();
      stopRecovery();
      stopAlerts();
      stopProtection();
      stopEstate();
      stopConnection();
    };
  }, [
    startConnection,
    startEstate,
    startProtection,
    startAlerts,
    startRecovery,
    startHosts,
    startTasks,
  ]);

  // A click on a desktop notification brings the Alerts page.
  useEffect(() => {
    if (openAlerts > 0) setPage('alerts');
  }, [openAlerts]);

  const nav: readonly NavItem<PageKey>[] = [
    ...NAV,
    {
      key: 'alerts',
      label: 'Alerts',
      icon: (
        <Badge
          badgeContent={unacknowledged}
          color="error"
          max={99}
          slotProps={{ badge: { 'aria-label': `${unacknowledged} not acknowledged` } }}
        >
          <NotificationsActive />
        </Badge>
      ),
    },
  ];

  return (
    <AppShell items={nav} current={page} onNavigate={navigate}>
      {page === 'estate' && <EstatePage />}
      {page === 'protection' && <ProtectionPage />}
      {page === 'recovery' && <RecoveryPage />}
      {page === 'policies' && <PoliciesPage />}
      {page === 'alerts' && <AlertsPage onPlan={planVpg} />}
    </AppShell>
  );
}
