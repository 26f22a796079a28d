/**
 * The renderer's Content-Security-Policy, one copy for every way the console is delivered:
 * browser mode and Electron's custom protocol send it as a header; the built index.html
 * carries it as a meta tag too, as a second line of defence. Scripts come from 'self' alone;
 * MUI/emotion inject <style> at runtime, hence 'unsafe-inline' for styles only.
 */
export function contentSecurityPolicy(
  opts: { connectSrc?: readonly string[]; meta?: boolean } = {},
): string {
  const connect = ["'self'", ...(opts.connectSrc ?? [])].join(' ');
  const directives = [
    "default-src 'self'",
    "script-src 'self'",
    `connect-src ${connect}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ];
  // Browsers ignore frame-ancestors in a meta tag (and warn), so only headers carry it.
  if (opts.meta !== true) directives.push("frame-ancestors 'none'");
  return directives.join('; ');
}
