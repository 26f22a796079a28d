const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A short, self-contained HTML page (inline styles are allowed by the CSP; no scripts). */
export function page(title: string, message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}</style>
</head><body><h1>${escape(title)}</h1><p>${escape(message)}</p></body></html>
`;
}

export const UNAUTHORIZED_PAGE = page(
  'Tideline console: sign-in link needed',
  'Open the link the console printed when it started (Console: http://127.0.0.1:…/?token=…). ' +
    'Each link works once; restart the console or ask it for a new link if yours was used already.',
);

export const NOT_BUILT_PAGE = page(
  'Tideline console: user interface not built',
  'The console is running, but its user interface was not found. Run "npm run build" and start it again.',
);
