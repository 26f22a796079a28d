import Alert from '@mui/material/Alert';
import Checkbox from '@mui/material/Checkbox';
import FormControl from '@mui/material/FormControl';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import FormHelperText from '@mui/material/FormHelperText';
import FormLabel from '@mui/material/FormLabel';
import Radio from '@mui/material/Radio';
import RadioGroup from '@mui/material/RadioGroup';
import Stack from '@mui/material/Stack';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { commitPolicyOf, type CommitPolicyKind } from '../../../lib/recovery';
import { useRecoveryStore } from '../../../stores/recovery-store';

interface Props {
  /** The protected site's name, and whether its agents answer (shutting down needs them). */
  readonly protectedSite: string;
  readonly protectedReachable: boolean;
  /** The VPG's VMs (a test may bring up some of them). */
  readonly vms: readonly { readonly vmId: string; readonly name: string }[];
}

/** Commit policy, shutting the protected VMs down, reverse protection. */
export function OptionsStep({ protectedSite, protectedReachable, vms }: Props) {
  const form = useRecoveryStore((s) => s.form);
  const patchForm = useRecoveryStore((s) => s.patchForm);
  if (form.mode === 'test') {
    const chosen = form.testVmIds ?? vms.map((v) => v.vmId);
    const toggle = (vmId: string, on: boolean): void => {
      const next = vms.map((v) => v.vmId).filter((id) => (id === vmId ? on : chosen.includes(id)));
      patchForm({ testVmIds: next.length === vms.length ? undefined : next });
    };
    return (
      <Stack spacing={2}>
        <Alert severity="info">
          A test failover has no commit: its VMs run on isolated networks until you stop the test
          from the Recovery page, and protection goes on meanwhile.
        </Alert>
        <FormControl component="fieldset">
          <FormLabel component="legend">VMs to bring up</FormLabel>
          <FormGroup>
            {vms.map((vm) => (
              <FormControlLabel
                key={vm.vmId}
                control={
                  <Checkbox
                    checked={chosen.includes(vm.vmId)}
                    onChange={(e) => toggle(vm.vmId, e.target.checked)}
                  />
                }
                label={vm.name}
              />
            ))}
          </FormGroup>
          <FormHelperText>
            Test some VMs alone, say one application&apos;s, at the same checkpoint.
          </FormHelperText>
        </FormControl>
      </Stack>
    );
  }
  const policy = commitPolicyOf(form);
  const minutesError = typeof policy === 'string' ? policy : undefined;
  return (
    <Stack spacing={3}>
      <FormControl>
        <FormLabel id="commit-policy-label">After the VMs are up</FormLabel>
        <RadioGroup
          aria-labelledby="commit-policy-label"
          value={form.commitPolicy}
          onChange={(e) => patchForm({ commitPolicy: e.target.value as CommitPolicyKind })}
        >
          <FormControlLabel
            value="none"
            control={<Radio />}
            label="Wait for me to commit or roll back"
          />
          <FormControlLabel
            value="autoCommit"
            control={<Radio />}
            label="Commit automatically after a while"
          />
          <FormControlLabel
            value="autoRollback"
            control={<Radio />}
            label="Roll back automatically after a while"
          />
        </RadioGroup>
        {form.commitPolicy !== 'none' && (
          <TextField
            label="Minutes"
            value={form.commitMinutes}
            onChange={(e) => patchForm({ commitMinutes: e.target.value })}
            error={minutesError !== undefined}
            helperText={minutesError ?? 'Until the automatic commit or rollback'}
            slotProps={{ htmlInput: { inputMode: 'numeric' } }}
            sx={{ width: 200, mt: 1 }}
          />
        )}
      </FormControl>

      {form.mode === 'live' && (
        <FormControl>
          <FormControlLabel
            control={
              <Switch
                checked={form.shutdownProtectedVms && protectedReachable}
                disabled={!protectedReachable}
                onChange={(e) => patchForm({ shutdownProtectedVms: e.target.checked })}
              />
            }
            label={`Shut down the protected VMs at ${protectedSite} first`}
          />
          <FormHelperText>
            {protectedReachable
              ? 'Recommended when the protected site still runs: the two copies would otherwise diverge.'
              : `${protectedSite} is unreachable: its VMs cannot be shut down from here. Make sure they do not come back on their own.`}
          </FormHelperText>
        </FormControl>
      )}

      <FormControl>
        <FormControlLabel
          control={
            <Switch
              checked={form.reverseProtection}
              onChange={(e) => patchForm({ reverseProtection: e.target.checked })}
            />
          }
          label={`Protect the recovered VMs back toward ${protectedSite} at commit`}
        />
        <FormHelperText>
          Seeds from the disks already at {protectedSite} (only the differences travel). If reverse
          protection cannot be set up yet, the commit says so and the VMs stay up.
        </FormHelperText>
      </FormControl>
      <Typography variant="body2" color="text.secondary">
        Checkpoints stay in the journal until the failover is committed: a rollback leaves the
        recovery site as it was and protection resumes.
      </Typography>
    </Stack>
  );
}
