import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import type { SxProps, Theme } from '@mui/material/styles';
import type { ReactNode } from 'react';
import type { ErrorView } from '../../app/protocol/console-api';
import { monoFontFamily } from '../theme';

interface Props {
  readonly error: ErrorView;
  readonly title?: string;
  readonly action?: ReactNode;
  readonly onClose?: () => void;
  readonly sx?: SxProps<Theme>;
}

/** A TidelineError as an admin reads it: what happened, and its code for support. */
export function ErrorAlert({ error, title, action, onClose, sx }: Props) {
  return (
    <Alert severity="error" action={action} onClose={onClose} sx={sx}>
      {title !== undefined && <AlertTitle>{title}</AlertTitle>}
      {error.message}
      <Box component="span" sx={{ display: 'block', mt: 0.5, opacity: 0.75, fontSize: '0.75rem' }}>
        Error code{' '}
        <Box component="code" sx={{ fontFamily: monoFontFamily }}>
          {error.code}
        </Box>
      </Box>
    </Alert>
  );
}
