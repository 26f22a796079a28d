import Dialog from '@mui/material/Dialog';
import DialogTitle from '@mui/material/DialogTitle';
import Step from '@mui/material/Step';
import StepLabel from '@mui/material/StepLabel';
import Stepper from '@mui/material/Stepper';
import { useAddAgentStore } from '../../../stores/add-agent-store';
import { AddressStep } from './address-step';
import { CertificateStep } from './certificate-step';

/** Two steps: where the agent is and its token; then confirm the certificate it presents. */
export function AddAgentDialog() {
  const open = useAddAgentStore((s) => s.open);
  const step = useAddAgentStore((s) => s.step);
  const busy = useAddAgentStore((s) => s.busy);
  const close = useAddAgentStore((s) => s.close);

  return (
    <Dialog
      open={open}
      onClose={busy ? undefined : close}
      maxWidth="sm"
      fullWidth
      aria-labelledby="add-agent-title"
    >
      <DialogTitle id="add-agent-title">Add agent</DialogTitle>
      <Stepper activeStep={step === 'address' ? 0 : 1} sx={{ px: 3, pb: 1 }}>
        <Step>
          <StepLabel>Connection details</StepLabel>
        </Step>
        <Step>
          <StepLabel>Verify certificate</StepLabel>
        </Step>
      </Stepper>
      {step === 'address' ? <AddressStep /> : <CertificateStep />}
    </Dialog>
  );
}
