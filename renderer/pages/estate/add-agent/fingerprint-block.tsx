import Box from '@mui/material/Box';
import { fingerprintLines } from '../../../lib/format';
import { monoFontFamily, navy } from '../../../theme';

interface Props {
  readonly fingerprint: string;
  readonly label: string;
}

/** A SHA-256 fingerprint in four lines of eight pairs, the way an admin compares it by eye. */
export function FingerprintBlock({ fingerprint, label }: Props) {
  return (
    <Box
      role="group"
      aria-label={label}
      sx={{
        fontFamily: monoFontFamily,
        fontSize: '0.95rem',
        lineHeight: 1.7,
        letterSpacing: '0.04em',
        p: 2,
        borderRadius: 2,
        bgcolor: navy[100],
        color: navy[900],
        border: 1,
        borderColor: 'divider',
        userSelect: 'all',
        wordBreak: 'keep-all',
      }}
    >
      {fingerprintLines(fingerprint).map((line) => (
        <Box key={line} component="span" sx={{ display: 'block', whiteSpace: 'nowrap' }}>
          {line}
        </Box>
      ))}
    </Box>
  );
}
