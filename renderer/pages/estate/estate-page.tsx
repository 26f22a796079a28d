import Add from '@mui/icons-material/Add';
import SyncAlt from '@mui/icons-material/SyncAlt';
import SupportIcon from '@mui/icons-material/Support';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useMemo } from 'react';
import { groupBySite, isEstateEmpty } from '../../lib/estate-groups';
import { canPair } from '../../lib/pairings';
import { useAddAgentStore } from '../../stores/add-agent-store';
import { usePairingStore } from '../../stores/pairing-store';
import { selectLoadError, selectSnapshot, useEstateStore } from '../../stores/estate-store';
import { AddAgentDialog } from './add-agent/add-agent-dialog';
import { EmptyEstate } from './empty-estate';
import { EstateSummary } from './estate-summary';
import { PairSitesDialog } from './pairing/pair-sites-dialog';
import { SitePairings } from './pairing/site-pairings';
import { UnpairDialog } from './pairing/unpair-dialog';
import { SiteSection } from './site-section';
import { DeployHostsSection } from './deploy/deploy-hosts-section';
import { LoadState } from '../../components/load-state';
import { SupportDialog } from '../../components/support-dialog';
import { useSupportStore } from '../../stores/support-store';

/** Sites, their agents, hosts and VMs, live from the console's estate cache. */
export function EstatePage() {
  const snapshot = useEstateStore(selectSnapshot);
  const loadError = useEstateStore(selectLoadError);
  const refresh = useEstateStore((s) => s.refresh);
  const openAddAgent = useAddAgentStore((s) => s.openDialog);
  const openPair = usePairingStore((s) => s.openPair);
  const openSupport = useSupportStore((s) => s.openDialog);
  const groups = useMemo(() => (snapshot ? groupBySite(snapshot) : []), [snapshot]);
  const empty = snapshot !== undefined && isEstateEmpty(snapshot);

  return (
    <Box>
      <Stack direction="row" sx={{ alignItems: 'center', mb: 3, gap: 2 }}>
        <Box sx={{ flexGrow: 1 }}>
          <Typography variant="h1">Estate</Typography>
          <Typography color="text.secondary">Sites, agents, hosts and virtual machines</Typography>
        </Box>
        {snapshot && !empty && (
          <Button
            variant="outlined"
            startIcon={<SupportIcon />}
            onClick={() =>
              openSupport(snapshot.agents.filter((a) => a.state === 'connected').map((a) => a.key))
            }
          >
            Support bundle…
          </Button>
        )}
        {snapshot && !empty && (
          <Button
            variant="outlined"
            startIcon={<SyncAlt />}
            onClick={openPair}
            disabled={!canPair(snapshot)}
            title={canPair(snapshot) ? undefined : 'Pairing needs at least two sites'}
          >
            Pair sites
          </Button>
        )}
        {snapshot && !empty && (
          <Button variant="contained" color="secondary" startIcon={<Add />} onClick={openAddAgent}>
            Add agent
          </Button>
        )}
      </Stack>

      <LoadState
        error={loadError}
        loading={snapshot === undefined}
        loadingText="Loading the estate…"
        onRetry={refresh}
      />

      {empty && <EmptyEstate onAdd={openAddAgent} />}

      {snapshot && !empty && (
        <Stack spacing={3}>
          <EstateSummary snapshot={snapshot} />
          {(canPair(snapshot) || snapshot.pairings.length > 0) && (
            <SitePairings pairings={snapshot.pairings} />
          )}
          {groups.map((group) => (
            <SiteSection key={group.key} group={group} defaultOpen={groups.length <= 6} />
          ))}
        </Stack>
      )}

      {/* Deploying agents over SSH: under the sites, or under the first-run card. */}
      {snapshot && (
        <Box sx={{ mt: 3 }}>
          <DeployHostsSection />
        </Box>
      )}

      <AddAgentDialog />
      <PairSitesDialog />
      <UnpairDialog />
      <SupportDialog />
    </Box>
  );
}
