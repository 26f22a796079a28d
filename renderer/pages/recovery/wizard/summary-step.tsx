import WarningAmber from '@mui/icons-material/WarningAmber';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import type { VpgView } from '../../../../app/protocol/console-api';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { formatSourceTime } from '../../../lib/protection';
import { MODE_TEXT, commitPolicyOf, commitPolicyText, resolveChoice } from '../../../lib/recovery';
import { useRecoveryStore } from '../../../stores/recovery-store';

interface Props {
  readonly vpg: VpgView;
  readonly protectedSite: string;
  readonly recoverySite: string;
  readonly protectedReachable: boolean;
  readonly checkpoints: readonly CheckpointInfo[];
  /** VM names by id (for a test of some of them). */
  readonly vmNames: Readonly<Record<string, string>>;
}

/** Everything the red button will do, in one place. */
export function SummaryStep({
  vpg,
  protectedSite,
  recoverySite,
  protectedReachable,
  checkpoints,
  vmNames,
}: Props) {
  const form = useRecoveryStore((s) => s.form);
  const resolved = resolveChoice(form.checkpoint, checkpoints);
  const policy = commitPolicyOf(form);
  const choice =
    form.checkpoint.kind === 'latest'
      ? 'Latest'
      : form.checkpoint.kind === 'latestNamed'
        ? 'Latest named'
        : 'Chosen';
  const checkpointText =
    form.mode === 'move'
      ? 'A new checkpoint, once the protected VMs are shut down'
      : resolved === undefined
        ? '—'
        : `${choice}: ${resolved.name ? `${resolved.name} · ` : ''}${formatSourceTime(resolved.sourceTime)}`;
  return (
    <Stack spacing={3}>
      {form.mode === 'test' ? (
        <Alert severity="info">
          <AlertTitle>Test failover of {vpg.name}</AlertTitle>
          The VMs come up at {recoverySite} on isolated test networks. Production and protection are
          not touched.
        </Alert>
      ) : (
        <Alert severity="error" icon={<WarningAmber />}>
          <AlertTitle>
            {form.mode === 'live' ? 'Live failover' : 'Planned move'} of {vpg.name} to{' '}
            {recoverySite}
          </AlertTitle>
          {form.mode === 'live'
            ? `The VMs come up at ${recoverySite} on production networks. Writes at ${protectedSite} after the checkpoint are not in them.`
            : `The VMs at ${protectedSite} are shut down, then brought up at ${recoverySite}.`}{' '}
          {!protectedReachable &&
            `${protectedSite} is unreachable: the recovery site's agents run this alone.`}
        </Alert>
      )}
      <Box
        component="dl"
        aria-label="Summary"
        sx={{ m: 0, display: 'grid', gridTemplateColumns: '220px 1fr', rowGap: 1.5, columnGap: 2 }}
      >
        <Item label="VPG">
          {vpg.name} · {vpg.vmIds.length} VM{vpg.vmIds.length === 1 ? '' : 's'}
        </Item>
        {form.mode === 'test' && form.testVmIds !== undefined && (
          <Item label="VMs to bring up">
            {form.testVmIds.map((id) => vmNames[id] ?? id).join(', ')}
          </Item>
        )}
        <Item label="From → to">
          {protectedSite}
          {protectedReachable ? '' : ' (unreachable)'} → {recoverySite}
        </Item>
        <Item label="Mode">{MODE_TEXT[form.mode].label}</Item>
        <Item label="Checkpoint">{checkpointText}</Item>
        {form.mode !== 'test' && (
          <>
            <Item label="Commit">
              {typeof policy === 'string' ? policy : commitPolicyText(policy)}
            </Item>
            {form.mode === 'live' && (
              <Item label="Protected VMs">
                {form.shutdownProtectedVms && protectedReachable
                  ? `Shut down at ${protectedSite} first`
                  : 'Left as they are'}
              </Item>
            )}
            <Item label="Reverse protection">
              {form.reverseProtection ? `Toward ${protectedSite}, at commit` : 'No'}
            </Item>
          </>
        )}
      </Box>
    </Stack>
  );
}

function Item({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <Typography component="dt" color="text.secondary">
        {label}
      </Typography>
      <Typography component="dd" sx={{ m: 0, fontWeight: 600 }}>
        {children}
      </Typography>
    </>
  );
}
