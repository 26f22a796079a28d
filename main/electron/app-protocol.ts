import { readFile } from 'node:fs/promises';
import { protocol } from 'electron';
import { contentSecurityPolicy } from '../../app/security/csp';
import { contentType, resolveStaticFile } from '../web/static-files';

/** The renderer is served from tideline://app/ (not file://), so it has an origin and a CSP header. */
export const APP_SCHEME = 'tideline';
export const APP_HOST = 'app';
export const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/** Must run before app 'ready'. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** Serves the built renderer (dist/renderer) with the strict CSP; nothing outside it. */
export function serveRenderer(rendererDir: string): void {
  const csp = contentSecurityPolicy();
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const found =
      url.host === APP_HOST ? await resolveStaticFile(rendererDir, url.pathname) : 'not-found';
    if (typeof found === 'string') {
      return new Response('Not found', {
        status: 404,
        headers: { 'Content-Security-Policy': csp },
      });
    }
    const body = await readFile(found.file);
    return new Response(body, {
      headers: {
        'Content-Type': contentType(found.file),
        'Content-Security-Policy': csp,
        'X-Content-Type-Options': 'nosniff',
      },
    });
  });
}
