import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Tab from '@mui/material/Tab';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tabs from '@mui/material/Tabs';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import type { FormEvent } from 'react';
import { findPairing } from '../../../../app/estate/pairings';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { ErrorAlert } from '../../../components/error-alert';
import { siteName } from '../../../lib/protection';
import type { EditChange } from '../../../lib/vpg-edit-form';
import { selectSnapshot, useEstateStore } from '../../../stores/estate-store';
import { useVpgEditStore, type EditTab } from '../../../stores/vpg-edit-store';
import { VmPickerTable } from '../vm-picker-table';
import { JournalFields } from '../wizard/journal-step';
import { RecoveryTab } from './recovery-tab';

/** The recovery site's link is down: settings are saved here and taken when it is back. */
export function recoverySiteUnreachable(
  snapshot: EstateSnapshot,
  protectedSiteId: string,
  recoverySiteId: string,
): boolean {
  const pairing = findPairing(snapshot.pairings, protectedSiteId, recoverySiteId);
  return pairing?.link !== 'connected';
}

/**
 * Edit a VPG: name, journal and RPO; its VMs; each VM's boot order and NIC mappings. Every
 * change is shown as a diff before it is saved, and saved against the version opened.
 */
export function VpgEditDialog() {
  const vpg = useVpgEditStore((s) => s.vpg);
  const form = useVpgEditStore((s) => s.form);
  const tab = useVpgEditStore((s) => s.tab);
  const errors = useVpgEditStore((s) => s.errors);
  const review = useVpgEditStore((s) => s.review);
  const saving = useVpgEditStore((s) => s.saving);
  const saveError = useVpgEditStore((s) => s.saveError);
  const store = useVpgEditStore.getState();
  const snapshot = useEstateStore(selectSnapshot);
  if (vpg === undefined || form === undefined || snapshot === undefined) return null;

  const later = recoverySiteUnreachable(snapshot, vpg.protectedSiteId, vpg.recoverySiteId);
  const recovery = siteName(snapshot, vpg.recoverySiteId);
  const siteVms = snapshot.vms.filter((v) => v.siteId === vpg.protectedSiteId);
  const vmsChanged =
    form.base.vmIds.length !== vpg.vmIds.length ||
    form.base.vmIds.some((id) => !vpg.vmIds.includes(id));
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (review === undefined) store.showReview();
    else void store.save(later);
  };
  const tabError = (t: EditTab): boolean =>
    t === 'vms'
      ? errors.vmIds !== undefined
      : t === 'recovery'
        ? Object.keys(errors.recovery ?? {}).length > 0
        : Object.keys(errors).some((k) => k !== 'vmIds' && k !== 'recovery');

  return (
    <Dialog
      open
      onClose={saving ? undefined : store.close}
      maxWidth="lg"
      fullWidth
      aria-labelledby="edit-vpg-title"
      slotProps={{ paper: { sx: { minHeight: 600 } } }}
    >
      <Box
        component="form"
        onSubmit={submit}
        noValidate
        sx={{ display: 'flex', flexDirection: 'column', flexGrow: 1 }}
      >
        <DialogTitle id="edit-vpg-title">
          {review === undefined ? `Edit VPG ${vpg.name}` : 'Review the changes'}
        </DialogTitle>
        {review === undefined && (
          <Tabs
            value={tab}
            onChange={(_, t: EditTab) => store.setTab(t)}
            sx={{ px: 3, borderBottom: 1, borderColor: 'divider' }}
            aria-label="Settings"
          >
            {(
              [
                ['general', 'General'],
                ['vms', 'VMs'],
                ['recovery', 'Boot order and networks'],
              ] as const
            ).map(([value, label]) => (
              <Tab
                key={value}
                value={value}
                label={label}
                sx={tabError(value) ? { color: 'error.main' } : undefined}
              />
            ))}
          </Tabs>
        )}
        <DialogContent sx={{ flexGrow: 1 }}>
          {later && (
            <Alert severity="warning" sx={{ mb: 2 }}>
              {recovery} cannot be reached: your changes are saved at the protected site and{' '}
              {recovery} takes them when it is back. VMs can join or leave only while it is
              reachable.
            </Alert>
          )}
          {review !== undefined ? (
            <ChangesTable changes={review.changes} />
          ) : tab === 'general' ? (
            <Stack spacing={3}>
              <TextField
                id="edit-vpg-name"
                label="VPG name"
                value={form.base.name}
                onChange={(e) => store.setText('name', e.target.value)}
                error={errors.name !== undefined}
                helperText={errors.name}
                fullWidth
                slotProps={{ htmlInput: { autoComplete: 'off' } }}
              />
              <JournalFields
                form={form.base}
                errors={errors}
                setText={store.setText}
                setWarningUnit={store.setWarningUnit}
              />
            </Stack>
          ) : tab === 'vms' ? (
            <Stack spacing={1.5}>
              {later && !vmsChanged && (
                <Typography variant="body2" color="text.secondary">
                  The VMs cannot change until {recovery} is reachable.
                </Typography>
              )}
              <VmPickerTable
                snapshot={snapshot}
                siteId={vpg.protectedSiteId}
                vmIds={form.base.vmIds}
                onChange={later ? () => undefined : store.setVms}
                error={errors.vmIds}
                ownVpgId={vpg.vpgId}
              />
              <Typography variant="caption" color="text.secondary">
                A VM that joins is synced to {recovery} in full; one that leaves takes its replica
                disks and journal history with it.
              </Typography>
            </Stack>
          ) : (
            <RecoveryTab vms={siteVms} />
          )}
          {saving && <LinearProgress sx={{ mt: 2 }} aria-label="Saving the VPG" />}
          {saveError && (
            <ErrorAlert error={saveError} title="Could not save the changes" sx={{ mt: 2 }} />
          )}
        </DialogContent>
        <DialogActions sx={{ px: 3, py: 2 }}>
          <Button onClick={store.close} disabled={saving} sx={{ mr: 'auto' }}>
            Cancel
          </Button>
          {review !== undefined && (
            <Button onClick={store.backToEdit} disabled={saving}>
              Back
            </Button>
          )}
          <Button
            type="submit"
            variant="contained"
            color={review === undefined ? 'primary' : 'secondary'}
            disabled={saving || (review !== undefined && review.changes.length === 0)}
          >
            {review === undefined ? 'Review changes' : later ? 'Save, apply later' : 'Save'}
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}

function ChangesTable({ changes }: { changes: readonly EditChange[] }) {
  if (changes.length === 0) {
    return <Alert severity="info">Nothing changed: the VPG already has these settings.</Alert>;
  }
  return (
    <Table size="small" aria-label="Changes">
      <TableHead>
        <TableRow>
          <TableCell>Setting</TableCell>
          <TableCell>Now</TableCell>
          <TableCell>After saving</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {changes.map((c) => (
          <TableRow key={c.what}>
            <TableCell component="th" scope="row" sx={{ fontWeight: 600 }}>
              {c.what}
            </TableCell>
            <TableCell sx={{ color: 'text.secondary', textDecoration: 'line-through' }}>
              {c.before}
            </TableCell>
            <TableCell sx={{ color: 'success.dark', fontWeight: 500 }}>{c.after}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
