import Box from '@mui/material/Box';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import type { Nic } from '../../../../app/protocol';
import type { VmView } from '../../../../app/protocol/console-api';
import {
  EMPTY_NIC,
  EMPTY_VM_RECOVERY,
  defaultNetwork,
  recoveryKey,
  type FailoverKind,
  type IpMode,
  type NicForm,
} from '../../../lib/vpg-edit-form';
import { useVpgEditStore } from '../../../stores/vpg-edit-store';

const KINDS: readonly { kind: FailoverKind; label: string }[] = [
  { kind: 'live', label: 'Live and move' },
  { kind: 'test', label: 'Test' },
];

/** Per VM of the VPG: its boot group and delay, and where each NIC lands for live and test. */
export function RecoveryTab({ vms }: { vms: readonly VmView[] }) {
  const form = useVpgEditStore((s) => s.form);
  const errors = useVpgEditStore((s) => s.errors.recovery) ?? {};
  const { setBoot } = useVpgEditStore.getState();
  if (form === undefined) return null;
  return (
    <Stack spacing={2}>
      <Typography variant="body2" color="text.secondary">
        VMs power on by ascending boot group; the next group starts once this one is on and its
        delay has passed. A NIC without a network lands on its own network (live) or on an isolated
        “-test” copy of it (test), keeping its address.
      </Typography>
      {form.base.vmIds.map((vmId) => {
        const vm = vms.find((v) => v.vmId === vmId);
        const entry = form.recovery[vmId] ?? EMPTY_VM_RECOVERY;
        const name = vm?.name ?? vmId;
        return (
          <Paper
            key={vmId}
            variant="outlined"
            component="section"
            aria-label={`Recovery of ${name}`}
            sx={{ p: 2, borderRadius: 2 }}
          >
            <Stack direction="row" spacing={2} sx={{ alignItems: 'flex-start', mb: 1.5 }}>
              <Typography variant="subtitle1" sx={{ fontWeight: 600, flexGrow: 1, mt: 1 }}>
                {name}
              </Typography>
              <TextField
                label="Boot group"
                size="small"
                value={entry.bootGroup}
                onChange={(e) => setBoot(vmId, { bootGroup: e.target.value })}
                error={errors[recoveryKey(vmId, 'bootGroup')] !== undefined}
                helperText={errors[recoveryKey(vmId, 'bootGroup')] ?? '0 starts first'}
                sx={{ width: 140 }}
                slotProps={{ htmlInput: { inputMode: 'numeric', autoComplete: 'off' } }}
              />
              <TextField
                label="Delay after (s)"
                size="small"
                value={entry.bootDelaySeconds}
                onChange={(e) => setBoot(vmId, { bootDelaySeconds: e.target.value })}
                error={errors[recoveryKey(vmId, 'bootDelaySeconds')] !== undefined}
                helperText={
                  errors[recoveryKey(vmId, 'bootDelaySeconds')] ?? 'Before the next group'
                }
                sx={{ width: 160 }}
                slotProps={{ htmlInput: { inputMode: 'numeric', autoComplete: 'off' } }}
              />
            </Stack>
            {vm === undefined || vm.nics.length === 0 ? (
              <Typography variant="body2" color="text.secondary">
                {vm === undefined ? 'The protected site does not report this VM now.' : 'No NICs.'}
              </Typography>
            ) : (
              <NicTable vmId={vmId} nics={vm.nics} errors={errors} />
            )}
          </Paper>
        );
      })}
    </Stack>
  );
}

function NicTable({
  vmId,
  nics,
  errors,
}: {
  vmId: string;
  nics: readonly Nic[];
  errors: Readonly<Record<string, string>>;
}) {
  const entry = useVpgEditStore((s) => s.form?.recovery[vmId]) ?? EMPTY_VM_RECOVERY;
  const { setNic } = useVpgEditStore.getState();
  return (
    <Table size="small" aria-label={`NICs of ${vmId}`}>
      <TableHead>
        <TableRow>
          <TableCell>NIC</TableCell>
          <TableCell>Failover</TableCell>
          <TableCell>Network</TableCell>
          <TableCell>IP</TableCell>
          <TableCell>Address / prefix</TableCell>
          <TableCell>Gateway</TableCell>
          <TableCell>DNS</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {nics.flatMap((nic) =>
          KINDS.map(({ kind, label }) => {
            const f: NicForm = entry.nics[nic.name]?.[kind] ?? EMPTY_NIC;
            const at = { kind, nicName: nic.name };
            const err = (field: string) => errors[recoveryKey(vmId, field, at)];
            const set = (patch: Partial<NicForm>) => setNic(vmId, nic.name, kind, patch);
            const id = `${vmId}-${nic.name}-${kind}`;
            return (
              <TableRow key={id} data-testid={`nic-${nic.name}-${kind}`}>
                <TableCell sx={{ whiteSpace: 'nowrap' }}>
                  {kind === 'live' && (
                    <>
                      <Typography variant="body2" sx={{ fontWeight: 600 }}>
                        {nic.name}
                      </Typography>
                      <Typography variant="caption" color="text.secondary">
                        {nic.network}
                        {nic.ipAddress ? ` · ${nic.ipAddress}` : ''}
                      </Typography>
                    </>
                  )}
                </TableCell>
                <TableCell sx={{ whiteSpace: 'nowrap' }}>{label}</TableCell>
                <TableCell>
                  <TextField
                    size="small"
                    value={f.network}
                    placeholder={defaultNetwork(nic.network, kind)}
                    onChange={(e) => set({ network: e.target.value })}
                    error={err('network') !== undefined}
                    helperText={err('network')}
                    slotProps={{
                      htmlInput: {
                        'aria-label': `${nic.name} ${kind} network`,
                        autoComplete: 'off',
                      },
                    }}
                    sx={{ minWidth: 130 }}
                  />
                </TableCell>
                <TableCell>
                  <TextField
                    select
                    size="small"
                    value={f.ipMode}
                    onChange={(e) => set({ ipMode: e.target.value as IpMode })}
                    slotProps={{ htmlInput: { 'aria-label': `${nic.name} ${kind} IP` } }}
                    sx={{ minWidth: 110 }}
                  >
                    <MenuItem value="keep">Keep</MenuItem>
                    <MenuItem value="dhcp">DHCP</MenuItem>
                    <MenuItem value="static">Static</MenuItem>
                  </TextField>
                </TableCell>
                {f.ipMode === 'static' ? (
                  <>
                    <TableCell>
                      <Box sx={{ display: 'flex', gap: 0.5, alignItems: 'flex-start' }}>
                        <TextField
                          size="small"
                          value={f.address}
                          placeholder="10.20.0.15"
                          onChange={(e) => set({ address: e.target.value })}
                          error={err('address') !== undefined}
                          helperText={err('address')}
                          slotProps={{
                            htmlInput: { 'aria-label': `${nic.name} ${kind} address` },
                          }}
                          sx={{ minWidth: 130 }}
                        />
                        <TextField
                          size="small"
                          value={f.prefixLength}
                          onChange={(e) => set({ prefixLength: e.target.value })}
                          error={err('prefixLength') !== undefined}
                          helperText={err('prefixLength')}
                          slotProps={{
                            htmlInput: {
                              'aria-label': `${nic.name} ${kind} prefix length`,
                              inputMode: 'numeric',
                            },
                          }}
                          sx={{ width: 64 }}
                        />
                      </Box>
                    </TableCell>
                    <TableCell>
                      <TextField
                        size="small"
                        value={f.gateway}
                        onChange={(e) => set({ gateway: e.target.value })}
                        error={err('gateway') !== undefined}
                        helperText={err('gateway')}
                        slotProps={{ htmlInput: { 'aria-label': `${nic.name} ${kind} gateway` } }}
                        sx={{ minWidth: 120 }}
                      />
                    </TableCell>
                    <TableCell>
                      <TextField
                        size="small"
                        value={f.dns}
                        onChange={(e) => set({ dns: e.target.value })}
                        error={err('dns') !== undefined}
                        helperText={err('dns')}
                        slotProps={{ htmlInput: { 'aria-label': `${nic.name} ${kind} DNS` } }}
                        sx={{ minWidth: 120 }}
                      />
                    </TableCell>
                  </>
                ) : (
                  <TableCell colSpan={3}>
                    <Typography variant="caption" color="text.secondary">
                      {f.ipMode === 'dhcp'
                        ? 'The guest asks DHCP for an address'
                        : 'The guest keeps its address'}
                    </Typography>
                  </TableCell>
                )}
              </TableRow>
            );
          }),
        )}
      </TableBody>
    </Table>
  );
}
