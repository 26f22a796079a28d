import Science from '@mui/icons-material/Science';
import Bolt from '@mui/icons-material/Bolt';
import LocalShipping from '@mui/icons-material/LocalShipping';
import Box from '@mui/material/Box';
import ButtonBase from '@mui/material/ButtonBase';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { FailoverMode } from '../../../../app/recovery/recovery-schemas';
import { MODE_TEXT, type ModeOffer } from '../../../lib/recovery';
import { useRecoveryStore } from '../../../stores/recovery-store';

const ICON: Record<FailoverMode, React.ReactNode> = {
  test: <Science />,
  live: <Bolt />,
  move: <LocalShipping />,
};

/** Test, live or move: each explained, the ones not possible now greyed with the reason. */
export function ModeStep({ offers }: { offers: readonly ModeOffer[] }) {
  const mode = useRecoveryStore((s) => s.form.mode);
  const patchForm = useRecoveryStore((s) => s.patchForm);
  return (
    <Box
      role="radiogroup"
      aria-label="Mode"
      sx={{ display: 'grid', gap: 2, gridTemplateColumns: { md: 'repeat(3, 1fr)' } }}
    >
      {offers.map((offer) => {
        const selected = offer.mode === mode;
        const disabled = offer.blocker !== undefined;
        const danger = offer.mode !== 'test';
        return (
          <ButtonBase
            key={offer.mode}
            role="radio"
            aria-checked={selected}
            aria-label={MODE_TEXT[offer.mode].label}
            disabled={disabled}
            onClick={() => patchForm({ mode: offer.mode })}
            sx={{
              display: 'block',
              textAlign: 'left',
              p: 2,
              borderRadius: 3,
              border: 2,
              borderColor: selected ? (danger ? 'error.main' : 'secondary.main') : 'divider',
              bgcolor: selected
                ? danger
                  ? 'rgba(198,47,47,0.05)'
                  : 'rgba(15,139,141,0.06)'
                : 'background.paper',
              opacity: disabled ? 0.55 : 1,
            }}
          >
            <Stack
              direction="row"
              spacing={1}
              sx={{ alignItems: 'center', mb: 1, color: danger ? 'error.main' : 'secondary.main' }}
            >
              {ICON[offer.mode]}
              <Typography variant="h3" sx={{ color: 'text.primary' }}>
                {MODE_TEXT[offer.mode].label}
              </Typography>
            </Stack>
            <Typography variant="body2" color="text.secondary">
              {MODE_TEXT[offer.mode].description}
            </Typography>
            {offer.blocker && (
              <Typography variant="body2" color="error" sx={{ mt: 1, fontWeight: 600 }}>
                {offer.blocker}
              </Typography>
            )}
          </ButtonBase>
        );
      })}
    </Box>
  );
}
