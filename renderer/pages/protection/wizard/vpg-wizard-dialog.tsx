import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import Step from '@mui/material/Step';
import StepButton from '@mui/material/StepButton';
import Stepper from '@mui/material/Stepper';
import Box from '@mui/material/Box';
import type { FormEvent } from 'react';
import { ErrorAlert } from '../../../components/error-alert';
import { VPG_STEPS } from '../../../lib/vpg-form';
import { selectSnapshot, useEstateStore } from '../../../stores/estate-store';
import { LAST_STEP, useVpgWizardStore } from '../../../stores/vpg-wizard-store';
import { JournalStep } from './journal-step';
import { RecoveryStep } from './recovery-step';
import { SummaryStep } from './summary-step';
import { VmsStep } from './vms-step';

/** New VPG: 1) name, protected site, VMs; 2) recovery site, host, datastore; 3) journal and RPO; 4) summary. */
export function VpgWizardDialog() {
  const open = useVpgWizardStore((s) => s.open);
  const step = useVpgWizardStore((s) => s.step);
  const creating = useVpgWizardStore((s) => s.creating);
  const createError = useVpgWizardStore((s) => s.createError);
  const { next, back, goTo, close, create } = useVpgWizardStore.getState();
  const snapshot = useEstateStore(selectSnapshot);
  if (!open || snapshot === undefined) return null;

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (step < LAST_STEP) return next();
    void create();
  };

  return (
    <Dialog
      open
      onClose={creating ? undefined : close}
      maxWidth="md"
      fullWidth
      aria-labelledby="new-vpg-title"
      slotProps={{ paper: { sx: { minHeight: 560 } } }}
    >
      <Box
        component="form"
        onSubmit={submit}
        noValidate
        sx={{ display: 'flex', flexDirection: 'column', flexGrow: 1 }}
      >
        <DialogTitle id="new-vpg-title">New VPG</DialogTitle>
        <Box sx={{ px: 3, pb: 2 }}>
          <Stepper nonLinear activeStep={step} aria-label="Steps">
            {VPG_STEPS.map((s, i) => (
              <Step key={s.label} completed={i < step}>
                <StepButton onClick={() => goTo(i)} disabled={i >= step || creating}>
                  {s.label}
                </StepButton>
              </Step>
            ))}
          </Stepper>
        </Box>
        <DialogContent dividers sx={{ flexGrow: 1 }}>
          {step === 0 && <VmsStep snapshot={snapshot} />}
          {step === 1 && <RecoveryStep snapshot={snapshot} />}
          {step === 2 && <JournalStep />}
          {step === 3 && <SummaryStep snapshot={snapshot} />}
          {creating && <LinearProgress sx={{ mt: 2 }} aria-label="Creating the VPG" />}
          {createError && (
            <ErrorAlert error={createError} title="Could not create the VPG" sx={{ mt: 2 }} />
          )}
        </DialogContent>
        <DialogActions sx={{ px: 3, py: 2 }}>
          <Button onClick={close} disabled={creating} sx={{ mr: 'auto' }}>
            Cancel
          </Button>
          <Button onClick={back} disabled={step === 0 || creating}>
            Back
          </Button>
          <Button
            type="submit"
            variant="contained"
            color={step === LAST_STEP ? 'secondary' : 'primary'}
            disabled={creating}
          >
            {step === LAST_STEP ? 'Create' : 'Next'}
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}
