import { createTheme } from '@mui/material/styles';

/** Navy chrome with teal accents on a light, calm working area: readable in a long incident. */
export const navy = { 900: '#0b1f36', 800: '#10294a', 700: '#173a63', 100: '#e3ebf5' } as const;
export const teal = { 600: '#0f8b8d', 500: '#14a3a5', 100: '#d8f1f1' } as const;

const fontFamily = [
  'Inter',
  'system-ui',
  '"Segoe UI"',
  'Roboto',
  '"Helvetica Neue"',
  '"Liberation Sans"',
  'Arial',
  'sans-serif',
].join(',');

export const monoFontFamily = [
  '"JetBrains Mono"',
  '"Cascadia Mono"',
  'Consolas',
  '"DejaVu Sans Mono"',
  '"Liberation Mono"',
  'monospace',
].join(',');

export const theme = createTheme({
  palette: {
    mode: 'light',
    primary: { main: navy[700], dark: navy[900], light: '#2f5b8f', contrastText: '#ffffff' },
    secondary: { main: teal[600], dark: '#0a6a6c', light: teal[500], contrastText: '#ffffff' },
    success: { main: '#1e8e4e' },
    warning: { main: '#c77700' },
    error: { main: '#c62f2f' },
    info: { main: '#2f6fb3' },
    background: { default: '#f3f6fa', paper: '#ffffff' },
    text: { primary: '#14243a', secondary: '#52637a' },
    divider: '#dde4ec',
  },
  shape: { borderRadius: 8 },
  typography: {
    fontFamily,
    fontSize: 14,
    h1: { fontSize: '1.6rem', fontWeight: 600 },
    h2: { fontSize: '1.25rem', fontWeight: 600 },
    h3: { fontSize: '1.05rem', fontWeight: 600 },
    subtitle2: { fontWeight: 600 },
    overline: { fontWeight: 600, letterSpacing: '0.08em' },
    button: { textTransform: 'none', fontWeight: 600 },
  },
  components: {
    MuiAppBar: { defaultProps: { elevation: 0 } },
    MuiPaper: { defaultProps: { elevation: 0 } },
    MuiCard: {
      defaultProps: { variant: 'outlined' },
    },
    MuiButton: { defaultProps: { disableElevation: true } },
    MuiTableCell: {
      styleOverrides: {
        head: {
          fontWeight: 600,
          color: '#52637a',
          backgroundColor: '#f7f9fc',
          whiteSpace: 'nowrap',
        },
      },
    },
    MuiChip: { styleOverrides: { root: { fontWeight: 600 } } },
    MuiDialogTitle: { styleOverrides: { root: { fontWeight: 600 } } },
  },
});
