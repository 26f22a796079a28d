import Stack from '@mui/material/Stack';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { ErrorAlert } from '../../../components/error-alert';
import { formatRate } from '../../../lib/protection';
import { useProtectionStore } from '../../../stores/protection-store';

const MB = 1e6;
const LEVELS = [0, 1 * MB, 5 * MB, 20 * MB] as const;

/** Whether every VM of the VPG runs on a simulated hypervisor (the demo lab). */
export function isSimulated(vpg: VpgView, snapshot: EstateSnapshot): boolean {
  const vms = snapshot.vms.filter(
    (v) => v.siteId === vpg.protectedSiteId && vpg.vmIds.includes(v.vmId),
  );
  return (
    vms.length > 0 &&
    vms.every(
      (vm) =>
        snapshot.hosts.find((h) => h.agentKey === vm.agentKey && h.hostId === vm.hostId)
          ?.hypervisor === 'sim',
    )
  );
}

/** Demo lab only: how fast the VPG's simulated VMs write, to watch the RPO respond. */
export function SimLoad({ vpg }: { vpg: VpgView }) {
  const current = useProtectionStore((s) => s.load[vpg.vpgId]);
  const busy = useProtectionStore((s) => s.loadBusy);
  const error = useProtectionStore((s) => s.loadError);
  const { setLoad, dismissLoadError } = useProtectionStore.getState();
  return (
    <Stack spacing={1}>
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center', flexWrap: 'wrap' }}>
        <Typography variant="body2" color="text.secondary" id={`sim-load-${vpg.vpgId}`}>
          Simulated write load (demo lab)
        </Typography>
        <ToggleButtonGroup
          exclusive
          size="small"
          value={current ?? null}
          disabled={busy || vpg.protectedSiteOffline}
          onChange={(_, value: number | null) => value !== null && void setLoad(vpg, value)}
          aria-labelledby={`sim-load-${vpg.vpgId}`}
        >
          {LEVELS.map((level) => (
            <ToggleButton key={level} value={level} sx={{ px: 1.5, py: 0.25 }}>
              {level === 0 ? 'Idle' : formatRate(level)}
            </ToggleButton>
          ))}
        </ToggleButtonGroup>
      </Stack>
      {error && (
        <ErrorAlert error={error} title="Could not change the load" onClose={dismissLoadError} />
      )}
    </Stack>
  );
}
