import Add from '@mui/icons-material/Add';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Tooltip from '@mui/material/Tooltip';
import { useVpgWizardStore } from '../../stores/vpg-wizard-store';

interface Props {
  /** Why a VPG cannot be created yet, or undefined when it can. */
  readonly blocker: string | undefined;
  readonly size?: 'medium' | 'large';
}

/** "New VPG": opens the wizard; disabled, with the reason as a hint, until two sites are paired. */
export function NewVpgButton({ blocker, size = 'medium' }: Props) {
  const openWizard = useVpgWizardStore((s) => s.openWizard);
  const button = (
    <Button
      variant="contained"
      color="secondary"
      size={size}
      startIcon={<Add />}
      onClick={openWizard}
      disabled={blocker !== undefined}
    >
      New VPG
    </Button>
  );
  if (blocker === undefined) return button;
  return (
    <Tooltip title={blocker}>
      <Box component="span" sx={{ display: 'inline-block' }}>
        {button}
      </Box>
    </Tooltip>
  );
}
