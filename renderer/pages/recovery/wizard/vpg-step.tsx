import FormControlLabel from '@mui/material/FormControlLabel';
import Radio from '@mui/material/Radio';
import RadioGroup from '@mui/material/RadioGroup';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { siteName } from '../../../lib/protection';
import { protectedSiteUnreachable } from '../../../lib/recovery';
import { useRecoveryStore } from '../../../stores/recovery-store';
import { VpgStatusChip } from '../../protection/vpg-status-chip';

/** Which VPG to fail over (one at a time). */
export function VpgStep({
  snapshot,
  vpgs,
}: {
  snapshot: EstateSnapshot;
  vpgs: readonly VpgView[];
}) {
  const vpgId = useRecoveryStore((s) => s.form.vpgId);
  const patchForm = useRecoveryStore((s) => s.patchForm);
  return (
    <Stack spacing={2}>
      <Typography color="text.secondary">
        Choose the VPG to bring up at its recovery site. Its VMs come up together, in boot order.
      </Typography>
      <RadioGroup
        aria-label="VPG"
        value={vpgId ?? ''}
        onChange={(e) => patchForm({ vpgId: e.target.value })}
      >
        {vpgs.map((vpg) => (
          <FormControlLabel
            key={vpg.vpgId}
            value={vpg.vpgId}
            control={<Radio />}
            aria-label={vpg.name}
            sx={{
              border: 1,
              borderColor: 'divider',
              borderRadius: 2,
              mx: 0,
              mb: 1,
              pr: 2,
              py: 0.5,
            }}
            label={
              <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
                <Typography sx={{ fontWeight: 700, minWidth: 140 }}>{vpg.name}</Typography>
                <Typography variant="body2" color="text.secondary">
                  {siteName(snapshot, vpg.protectedSiteId)}
                  {protectedSiteUnreachable(snapshot, vpg) ? ' (unreachable)' : ''} →{' '}
                  {siteName(snapshot, vpg.recoverySiteId)} · {vpg.vmIds.length} VM
                  {vpg.vmIds.length === 1 ? '' : 's'}
                </Typography>
                <VpgStatusChip status={vpg.status} />
              </Stack>
            }
          />
        ))}
      </RadioGroup>
    </Stack>
  );
}
