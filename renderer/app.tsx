import Public from '@mui/icons-material/Public';
import { useEffect, useState } from 'react';
import type { NavItem } from './components/app-shell';
import { AppShell } from './components/app-shell';
import { EstatePage } from './pages/estate/estate-page';
import { useConnectionStore } from './stores/connection-store';
import { useEstateStore } from './stores/estate-store';

type PageKey = 'estate';

/** Only pages that work are listed; each new page adds an item here. */
const NAV: readonly NavItem<PageKey>[] = [{ key: 'estate', label: 'Estate', icon: <Public /> }];

export function App() {
  const [page, setPage] = useState<PageKey>('estate');
  const startConnection = useConnectionStore((s) => s.start);
  const startEstate = useEstateStore((s) => s.start);

  useEffect(() => {
    const stopConnection = startConnection();
    const stopEstate = startEstate();
    return () => {
      stopEstate();
      stopConnection();
    };
  }, [startConnection, startEstate]);

  return (
    <AppShell items={NAV} current={page} onNavigate={setPage}>
      {page === 'estate' && <EstatePage />}
    </AppShell>
  );
}
