import { useDeferredValue } from 'react';
import Box from '@mui/material/Box';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { newVpgBlocker } from '../../lib/protection';
import { selectLoadError, selectSnapshot, useEstateStore } from '../../stores/estate-store';
import { useProtectionStore } from '../../stores/protection-store';
import { VpgDetail } from './detail/vpg-detail';
import { RemoveVpgDialog } from './detail/remove-vpg-dialog';
import { EmptyProtection } from './empty-protection';
import { NewVpgButton } from './new-vpg-button';
import { ProtectionSummary } from './protection-summary';
import { VpgTable } from './vpg-table';
import { VpgWizardDialog } from './wizard/vpg-wizard-dialog';
import { LoadState } from '../../components/load-state';

/** VPGs with their live RPO, the "New VPG" wizard, and a VPG's detail with its checkpoints. */
export function ProtectionPage() {
  const snapshot = useEstateStore(selectSnapshot);
  const loadError = useEstateStore(selectLoadError);
  const refresh = useEstateStore((s) => s.refresh);
  // Deferred: opening a VPG (or going back to 500 of them) is drawn between frames, so the
  // click paints at once; the store's update itself would render in one blocking pass.
  const selectedId = useDeferredValue(useProtectionStore((s) => s.selectedVpgId));
  const vpgs = snapshot?.vpgs ?? [];
  const selected = vpgs.find((v) => v.vpgId === selectedId);
  const blocker = newVpgBlocker(snapshot);

  return (
    <Box>
      {selected && snapshot ? (
        <VpgDetail vpg={selected} snapshot={snapshot} />
      ) : (
        <>
          <Stack direction="row" sx={{ alignItems: 'center', mb: 3, gap: 2 }}>
            <Box sx={{ flexGrow: 1 }}>
              <Typography variant="h1">Protection</Typography>
              <Typography color="text.secondary">
                Virtual protection groups: what replicates where, and how far behind it is
              </Typography>
            </Box>
            {vpgs.length > 0 && <NewVpgButton blocker={blocker} />}
          </Stack>

          <LoadState
            error={loadError}
            loading={snapshot === undefined}
            loadingText="Loading the VPGs…"
            onRetry={refresh}
          />

          {snapshot && vpgs.length === 0 && <EmptyProtection blocker={blocker} />}

          {snapshot && vpgs.length > 0 && (
            <Stack spacing={3}>
              <ProtectionSummary vpgs={vpgs} />
              <VpgTable vpgs={vpgs} snapshot={snapshot} />
            </Stack>
          )}
        </>
      )}
      <VpgWizardDialog />
      <RemoveVpgDialog />
    </Box>
  );
}
