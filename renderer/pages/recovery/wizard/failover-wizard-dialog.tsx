import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import Step from '@mui/material/Step';
import StepButton from '@mui/material/StepButton';
import Stepper from '@mui/material/Stepper';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import { useEffect, useMemo, type FormEvent } from 'react';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { ErrorAlert } from '../../../components/error-alert';
import { siteName } from '../../../lib/protection';
import {
  FAILOVER_STEPS,
  MODE_TEXT,
  activeFailover,
  failoverStepError,
  offeredModes,
  protectedSiteUnreachable,
} from '../../../lib/recovery';
import { LAST_FAILOVER_STEP, failoverList, useRecoveryStore } from '../../../stores/recovery-store';
import { UnreachableBanners } from '../unreachable-banner';
import { CheckpointStep } from './checkpoint-step';
import { ModeStep } from './mode-step';
import { OptionsStep } from './options-step';
import { SummaryStep } from './summary-step';
import { VpgStep } from './vpg-step';

/** Fail over: 1) VPG; 2) mode; 3) checkpoint; 4) options; 5) summary, then the red button. */
export function FailoverWizardDialog({ snapshot }: { snapshot: EstateSnapshot }) {
  const open = useRecoveryStore((s) => s.wizardOpen);
  const step = useRecoveryStore((s) => s.step);
  const form = useRecoveryStore((s) => s.form);
  const stepError = useRecoveryStore((s) => s.stepError);
  const checkpoints = useRecoveryStore((s) => s.checkpoints);
  const checkpointsLoading = useRecoveryStore((s) => s.checkpointsLoading);
  const starting = useRecoveryStore((s) => s.starting);
  const startError = useRecoveryStore((s) => s.startError);
  const failoverMap = useRecoveryStore((s) => s.failovers);
  const failovers = useMemo(() => failoverList(failoverMap), [failoverMap]);
  const { goTo, closeWizard, setStepError, loadCheckpoints, startFailover } =
    useRecoveryStore.getState();
  const vpg = snapshot.vpgs.find((v) => v.vpgId === form.vpgId);

  // The recovery site's checkpoints for the chosen VPG, fetched again whenever the step shows.
  useEffect(() => {
    if (open && vpg !== undefined && (step === 2 || step === LAST_FAILOVER_STEP))
      void loadCheckpoints(vpg);
  }, [open, vpg?.vpgId, step]);

  if (!open) return null;
  const offers = vpg ? offeredModes(snapshot, vpg, activeFailover(failovers, vpg.vpgId)) : [];
  const unreachable = vpg !== undefined && protectedSiteUnreachable(snapshot, vpg);
  const protectedSite = vpg ? siteName(snapshot, vpg.protectedSiteId) : '';
  const recoverySite = vpg ? siteName(snapshot, vpg.recoverySiteId) : '';
  const danger = form.mode !== 'test';

  // Until the recovery site has answered, "no checkpoint" would be a guess, not a fact.
  const waitingForCheckpoints = step === 2 && form.mode !== 'move' && checkpointsLoading;

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (waitingForCheckpoints) return;
    for (let s = 0; s <= step; s += 1) {
      const error = failoverStepError(s, form, offers, checkpoints);
      if (error !== undefined) {
        goTo(s);
        return setStepError(error);
      }
    }
    if (step < LAST_FAILOVER_STEP) return goTo(step + 1);
    if (vpg !== undefined) void startFailover(vpg);
  };

  return (
    <Dialog
      open
      onClose={starting ? undefined : closeWizard}
      maxWidth="md"
      fullWidth
      aria-labelledby="failover-title"
      slotProps={{ paper: { sx: { minHeight: 600 } } }}
    >
      <Box
        component="form"
        onSubmit={submit}
        noValidate
        sx={{ display: 'flex', flexDirection: 'column', flexGrow: 1 }}
      >
        <DialogTitle id="failover-title">Fail over{vpg ? ` ${vpg.name}` : ''}</DialogTitle>
        <Box sx={{ px: 3, pb: 2 }}>
          <Stepper nonLinear activeStep={step} aria-label="Steps">
            {FAILOVER_STEPS.map((label, i) => (
              <Step key={label} completed={i < step}>
                <StepButton onClick={() => goTo(i)} disabled={i >= step || starting}>
                  {label}
                </StepButton>
              </Step>
            ))}
          </Stepper>
        </Box>
        <DialogContent dividers sx={{ flexGrow: 1 }}>
          {unreachable && vpg && step > 0 && (
            <Box sx={{ mb: 2 }}>
              <UnreachableBanners snapshot={snapshot} vpgs={[vpg]} />
            </Box>
          )}
          {step === 0 && <VpgStep snapshot={snapshot} vpgs={snapshot.vpgs} />}
          {step === 1 && <ModeStep offers={offers} />}
          {step === 2 && <CheckpointStep />}
          {step === 3 && (
            <OptionsStep
              protectedSite={protectedSite}
              protectedReachable={!unreachable}
              vms={(vpg?.vmIds ?? []).map((vmId) => ({
                vmId,
                name: snapshot.vms.find((v) => v.vmId === vmId)?.name ?? vmId,
              }))}
            />
          )}
          {step === 4 && vpg && (
            <SummaryStep
              vpg={vpg}
              protectedSite={protectedSite}
              recoverySite={recoverySite}
              protectedReachable={!unreachable}
              checkpoints={checkpoints}
              vmNames={Object.fromEntries(snapshot.vms.map((v) => [v.vmId, v.name]))}
            />
          )}
          {stepError && (
            <Alert severity="warning" sx={{ mt: 2 }}>
              {stepError}
            </Alert>
          )}
          {starting && <LinearProgress sx={{ mt: 2 }} aria-label="Starting the failover" />}
          {startError && (
            <ErrorAlert error={startError} title="The failover did not start" sx={{ mt: 2 }} />
          )}
        </DialogContent>
        <DialogActions sx={{ px: 3, py: 2 }}>
          <Button onClick={closeWizard} disabled={starting} sx={{ mr: 'auto' }}>
            Cancel
          </Button>
          <Button onClick={() => goTo(step - 1)} disabled={step === 0 || starting}>
            Back
          </Button>
          {step < LAST_FAILOVER_STEP ? (
            <Button type="submit" variant="contained" disabled={waitingForCheckpoints}>
              Next
            </Button>
          ) : (
            <Button
              type="submit"
              variant="contained"
              color={danger ? 'error' : 'secondary'}
              disabled={starting}
              size="large"
            >
              {MODE_TEXT[form.mode].verb}
            </Button>
          )}
        </DialogActions>
      </Box>
    </Dialog>
  );
}
