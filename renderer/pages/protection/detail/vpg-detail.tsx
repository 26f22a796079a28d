import BookmarkAdd from '@mui/icons-material/BookmarkAdd';
import DeleteOutline from '@mui/icons-material/DeleteOutlined';
import East from '@mui/icons-material/East';
import EditOutlined from '@mui/icons-material/EditOutlined';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Breadcrumbs from '@mui/material/Breadcrumbs';
import Button from '@mui/material/Button';
import Link from '@mui/material/Link';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useEffect } from 'react';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { pluralize } from '../../../lib/format';
import { siteName } from '../../../lib/protection';
import { useCheckpointStore } from '../../../stores/checkpoint-store';
import { useProtectionStore } from '../../../stores/protection-store';
import { useLiveFigures } from '../use-live-figures';
import { VpgStatusChip } from '../vpg-status-chip';
import { CheckpointsCard } from './checkpoints-card';
import { FollowedAlerts } from './followed-alerts';
import { InsertCheckpointDialog } from './insert-checkpoint-dialog';
import { LiveCard } from './live-card';
import { RpoHistoryCard } from './rpo-history-card';
import { SettingsCard } from './settings-card';
import { useVpgEditStore } from '../../../stores/vpg-edit-store';
import { VpgEditDialog } from '../edit/vpg-edit-dialog';
import { EditOutcome } from './edit-outcome';
import { TaskHistoryCard } from './task-history-card';

interface Props {
  readonly vpg: VpgView;
  readonly snapshot: EstateSnapshot;
}

/** One VPG: live figures, settings, checkpoints (insert one and see it confirmed), remove. */
export function VpgDetail({ vpg, snapshot }: Props) {
  const closeVpg = useProtectionStore((s) => s.closeVpg);
  const askRemove = useProtectionStore((s) => s.askRemove);
  const follow = useCheckpointStore((s) => s.follow);
  const openInsert = useCheckpointStore((s) => s.openInsert);
  const openEdit = useVpgEditStore((s) => s.openEdit);
  const live = useLiveFigures(vpg);
  const { siteId, vpgId, recoverySiteId } = vpg;
  useEffect(
    () => follow({ siteId, vpgId, recoverySiteId }),
    [follow, siteId, vpgId, recoverySiteId],
  );

  const source = siteName(snapshot, vpg.protectedSiteId);
  const recovery = siteName(snapshot, vpg.recoverySiteId);
  const insertBlocker = vpg.protectedSiteOffline
    ? `${source} is offline: checkpoints are inserted at the protected site.`
    : vpg.status === 'RemoveInProgress'
      ? 'The VPG is being removed.'
      : undefined;
  const editBlocker = vpg.protectedSiteOffline
    ? `${source} is offline: a VPG is edited at its protected site.`
    : vpg.status === 'RemoveInProgress'
      ? 'The VPG is being removed.'
      : undefined;

  return (
    <Box>
      <Breadcrumbs aria-label="Breadcrumb" sx={{ mb: 1.5 }}>
        <Link component="button" underline="hover" color="inherit" onClick={closeVpg}>
          Protection
        </Link>
        <Typography color="text.primary">{vpg.name}</Typography>
      </Breadcrumbs>
      <Stack direction="row" sx={{ alignItems: 'center', mb: 3, gap: 2, flexWrap: 'wrap' }}>
        <Box sx={{ flexGrow: 1 }}>
          <Stack direction="row" spacing={1.5} sx={{ alignItems: 'center' }}>
            <Typography variant="h1">{vpg.name}</Typography>
            <VpgStatusChip status={live.status} message={vpg.statusMessage} />
          </Stack>
          <Stack
            direction="row"
            spacing={0.75}
            sx={{ alignItems: 'center', color: 'text.secondary', mt: 0.5 }}
          >
            <Typography color="inherit">{source}</Typography>
            <East fontSize="small" aria-label="to" />
            <Typography color="inherit">
              {recovery} · {pluralize(vpg.vmIds.length, 'VM')},{' '}
              {pluralize(vpg.disks.length, 'disk')}
            </Typography>
          </Stack>
        </Box>
        <Button
          variant="contained"
          color="secondary"
          startIcon={<BookmarkAdd />}
          onClick={openInsert}
          disabled={insertBlocker !== undefined}
          title={insertBlocker}
        >
          Insert checkpoint
        </Button>
        <Button
          variant="outlined"
          startIcon={<EditOutlined />}
          onClick={() => openEdit(vpg)}
          disabled={editBlocker !== undefined}
          title={editBlocker}
        >
          Edit
        </Button>
        <Button
          variant="outlined"
          color="error"
          startIcon={<DeleteOutline />}
          onClick={() => askRemove(vpg)}
        >
          Remove VPG
        </Button>
      </Stack>

      <Stack spacing={3}>
        {vpg.protectedSiteOffline && (
          <Alert severity="warning">
            No agent of {source} is connected: this is what {siteName(snapshot, vpg.siteId)} reports
            about the VPG.
          </Alert>
        )}
        {vpg.statusMessage && (vpg.status === 'Error' || vpg.status === 'Paused') && (
          <Alert severity={vpg.status === 'Error' ? 'error' : 'warning'}>{vpg.statusMessage}</Alert>
        )}
        <EditOutcome vpg={vpg} recoverySite={recovery} />
        <FollowedAlerts recoverySite={recovery} />
        <Box sx={{ display: 'grid', gap: 3, gridTemplateColumns: { xs: '1fr', lg: '3fr 2fr' } }}>
          <LiveCard vpg={vpg} snapshot={snapshot} />
          <SettingsCard vpg={vpg} snapshot={snapshot} />
        </Box>
        <RpoHistoryCard vpg={vpg} />
        <CheckpointsCard insertBlocker={insertBlocker} />
        <TaskHistoryCard vpgId={vpgId} snapshot={snapshot} />
      </Stack>
      <InsertCheckpointDialog vpgName={vpg.name} />
      <VpgEditDialog />
    </Box>
  );
}
