import Waves from '@mui/icons-material/Waves';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Drawer from '@mui/material/Drawer';
import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListItemIcon from '@mui/material/ListItemIcon';
import ListItemText from '@mui/material/ListItemText';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import { navy, teal } from '../theme';
import { ConnectionBanner } from './connection-banner';
import { ConnectionStatus } from './connection-status';
import { ConsoleVersion } from './console-version';
import { OfflineDimmer } from './offline-dimmer';
import { TasksDrawer, TasksDrawerSpacer } from './tasks/tasks-drawer';

export interface NavItem<K extends string> {
  readonly key: K;
  readonly label: string;
  readonly icon: ReactNode;
}

interface Props<K extends string> {
  readonly items: readonly NavItem<K>[];
  readonly current: K;
  readonly onNavigate: (key: K) => void;
  readonly children: ReactNode;
}

const DRAWER_WIDTH = 232;

/** Top bar, left navigation, and the page. */
export function AppShell<K extends string>({ items, current, onNavigate, children }: Props<K>) {
  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <AppBar
        position="fixed"
        sx={{
          zIndex: (t) => t.zIndex.drawer + 1,
          bgcolor: navy[900],
          borderBottom: `3px solid ${teal[600]}`,
        }}
      >
        <Toolbar sx={{ gap: 1.5 }}>
          <Waves sx={{ color: teal[500], fontSize: 30 }} aria-hidden />
          <Typography
            variant="h6"
            component="div"
            sx={{ fontWeight: 700, letterSpacing: '0.02em' }}
          >
            Tideline
          </Typography>
          <Typography
            variant="body2"
            sx={{ color: 'rgba(255,255,255,0.6)', display: { xs: 'none', md: 'block' } }}
          >
            Disaster recovery console
          </Typography>
          <Box sx={{ flexGrow: 1 }} />
          <ConnectionStatus />
        </Toolbar>
      </AppBar>
      <Drawer
        variant="permanent"
        sx={{ width: DRAWER_WIDTH, flexShrink: 0, bgcolor: navy[800] }}
        slotProps={{
          paper: {
            sx: { width: DRAWER_WIDTH, bgcolor: navy[800], color: 'common.white', border: 0 },
          },
        }}
      >
        <Toolbar />
        <Box component="nav" aria-label="Main navigation" sx={{ pt: 2 }}>
          <List>
            {items.map((item) => (
              <ListItemButton
                key={item.key}
                selected={item.key === current}
                aria-current={item.key === current ? 'page' : undefined}
                onClick={() => onNavigate(item.key)}
                sx={{
                  mx: 1.5,
                  borderRadius: 1.5,
                  color: 'rgba(255,255,255,0.8)',
                  '&.Mui-selected, &.Mui-selected:hover': {
                    bgcolor: 'rgba(20,163,165,0.22)',
                    color: 'common.white',
                  },
                  '&:hover': { bgcolor: 'rgba(255,255,255,0.06)' },
                }}
              >
                <ListItemIcon sx={{ color: 'inherit', minWidth: 40 }}>{item.icon}</ListItemIcon>
                <ListItemText
                  primary={item.label}
                  slotProps={{ primary: { sx: { fontWeight: 600 } } }}
                />
              </ListItemButton>
            ))}
          </List>
        </Box>
        <ConsoleVersion />
      </Drawer>
      <Box component="main" sx={{ flexGrow: 1, minWidth: 0, bgcolor: 'background.default' }}>
        <Toolbar />
        <Box sx={{ p: { xs: 2, md: 4 }, maxWidth: 1480, mx: 'auto' }}>
          <ConnectionBanner />
          <OfflineDimmer>{children}</OfflineDimmer>
        </Box>
        <TasksDrawerSpacer />
      </Box>
      <TasksDrawer left={DRAWER_WIDTH} />
    </Box>
  );
}
