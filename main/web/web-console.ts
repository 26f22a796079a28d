import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TidelineError } from '../../app/errors';
import { contentSecurityPolicy } from '../../app/security/csp';
import { drop } from '../services/util/drop';
import { silentLogger, type Logger } from '../services/util/log';
import { createApiSocketServer, type ConsoleService } from './api-socket';
import { WebAuth } from './auth';
import { NOT_BUILT_PAGE, UNAUTHORIZED_PAGE, page } from './pages';
import { serveStatic } from './static-files';

export interface WebConsoleOptions {
  readonly core: ConsoleService;
  /** Must be 127.0.0.1: browser mode never listens on another interface. */
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly staticDir: string;
  readonly logger?: Logger;
}

export interface WebConsole {
  /** The one-time sign-in URL: http://127.0.0.1:PORT/?token=T */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  /** Mints another one-time sign-in URL. */
  issueLoginUrl(): string;
  close(): Promise<void>;
}

export const API_PATH = '/api';
const HOST = '127.0.0.1';

/** Browser mode: the built renderer and the ConsoleApi (WebSocket at /api) on 127.0.0.1. */
export async function startWebConsole(options: WebConsoleOptions): Promise<WebConsole> {
  if (options.host !== HOST) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Browser mode listens on ${HOST} only, not on ${options.host}.`,
    );
  }
  const logger = options.logger ?? silentLogger();
  const server = createServer();
  const wss = createApiSocketServer(options.core, logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const origin = `http://${HOST}:${port}`;
  const auth = new WebAuth(`tideline_session_${port}`);
  const headers = {
    'Content-Security-Policy': contentSecurityPolicy({ connectSrc: [`ws://${HOST}:${port}`] }),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
  const hostOk = (req: IncomingMessage): boolean => req.headers.host === `${HOST}:${port}`;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    drop(handleRequest(req, res), (err) => {
      logger.error({ err }, 'web console request failed');
      if (!res.headersSent) html(res, 500, page('Tideline console', 'Internal error.'));
      else res.destroy();
    });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostOk(req))
      return html(res, 421, page('Wrong address', `Open the console at ${origin}/.`));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return html(res, 405, page('Method not allowed', 'The console serves GET and HEAD only.'));
    }
    const url = new URL(req.url ?? '/', origin);
    const token = url.searchParams.get('token');
    const signedIn = auth.hasSession(req.headers.cookie);
    if (token !== null) {
      if (auth.consumeLoginToken(token)) {
        res.setHeader('Set-Cookie', auth.sessionCookie(auth.createSession()));
        logger.info('browser signed in with a one-time link');
      } else if (!signedIn) {
        return html(res, 401, UNAUTHORIZED_PAGE);
      }
      res.writeHead(303, { Location: '/', 'Cache-Control': 'no-store' }).end();
      return;
    }
    if (!signedIn) return html(res, 401, UNAUTHORIZED_PAGE);
    const result = await serveStatic(options.staticDir, url.pathname, res, req.method === 'HEAD');
    if (result === 'no-index') return html(res, 503, NOT_BUILT_PAGE);
    if (result === 'not-found')
      return html(res, 404, page('Not found', `${url.pathname} does not exist.`));
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', origin).pathname;
    if (path !== API_PATH || !hostOk(req)) return refuse(socket, 404, 'Not Found');
    if (!auth.hasSession(req.headers.cookie)) return refuse(socket, 401, 'Unauthorized');
    if (req.headers.origin !== origin) return refuse(socket, 403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const loginUrl = (): string => `${origin}/?token=${auth.issueLoginToken()}`;
  return {
    url: loginUrl(),
    origin,
    port,
    issueLoginUrl: loginUrl,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      auth.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
