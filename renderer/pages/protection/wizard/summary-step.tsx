import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { formatBytes, pluralize } from '../../../lib/format';
import { formatDuration, formatSize, siteName } from '../../../lib/protection';
import { formToSettings } from '../../../lib/vpg-form';
import { useVpgWizardStore } from '../../../stores/vpg-wizard-store';

/** Step 4: everything the VPG will be, to check before "Create". */
export function SummaryStep({ snapshot }: { snapshot: EstateSnapshot }) {
  const form = useVpgWizardStore((s) => s.form);
  const result = formToSettings(form);
  if (!result.ok) return null;
  const { settings } = result;
  const vms = snapshot.vms.filter(
    (v) => v.siteId === form.protectedSiteId && settings.vmIds.includes(v.vmId),
  );
  const bytes = vms.reduce((sum, vm) => sum + vm.disks.reduce((s, d) => s + d.sizeBytes, 0), 0);
  const host = snapshot.hosts.find(
    (h) => h.siteId === settings.recoverySiteId && h.hostId === settings.recoveryHostId,
  );

  return (
    <Box>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
        Creating the VPG starts the initial sync of its disks to the recovery site; its RPO is
        measured from the first checkpoint confirmed there.
      </Typography>
      <Box
        component="dl"
        aria-label="Summary"
        sx={{
          m: 0,
          display: 'grid',
          gridTemplateColumns: 'max-content 1fr',
          columnGap: 4,
          rowGap: 1.25,
          '& dt': { color: 'text.secondary' },
          '& dd': { m: 0, fontWeight: 500 },
        }}
      >
        <Row label="VPG name">{settings.name}</Row>
        <Row label="Protected site">{siteName(snapshot, form.protectedSiteId)}</Row>
        <Row label="VMs">
          {vms.map((v) => v.name).join(', ')} ({pluralize(vms.length, 'VM')}, {formatBytes(bytes)})
        </Row>
        <Row label="Recovery site">{siteName(snapshot, settings.recoverySiteId)}</Row>
        <Row label="Recovery host">
          {host?.name ?? settings.recoveryHostId} · {settings.recoveryDatastore}
        </Row>
        <Row label="Journal">
          {formatDuration(settings.journal.historySeconds)} of history, at most{' '}
          {formatSize(settings.journal.hardLimitBytes)} (warning at{' '}
          {formatSize(settings.journal.warningBytes)})
        </Row>
        <Row label="Checkpoints">every {formatDuration(settings.checkpointIntervalMs / 1000)}</Row>
        <Row label="RPO target">{formatDuration(settings.rpoTargetSeconds)}</Row>
      </Box>
    </Box>
  );
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}
