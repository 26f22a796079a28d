import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type Server as WsServer } from 'ws';
import { TidelineError } from '../../app/errors';
import type { Logger } from '../log';
import type { AuthThrottle } from '../security/auth-throttle';
import { HandshakePool } from '../security/handshake-pool';
import { sourceKey } from '../security/source-key';
import { RefusalLog } from '../util/refusal-log';
import { parseBearer, verifyToken, type TokenHash } from '../security/token';
import { errnoMessage } from '../store/json-file';
import { drop } from '../util/drop';
import { AgentSocket } from './agent-socket';
import { Connection, type AgentDispatcher } from './connection';
import { refuseUpgrade } from './http-refusal';
import type { ConnectionLimits } from './limits';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface ControlServerOptions {
  readonly listen: ListenAddress;
  readonly tls: { readonly keyPem: string; readonly certPem: string };
  readonly adminToken: TokenHash;
  readonly throttle: AuthThrottle;
  readonly dispatcher: AgentDispatcher;
  readonly limits: ConnectionLimits;
  readonly maxConnections: number;
  /** Ping interval; a console that misses a pong for a whole interval is terminated. */
  readonly keepaliveMs: number;
  readonly log: Logger;
}

const SHUTDOWN_GRACE_MS = 3_000;
/** Connections not yet authenticated (TLS, HTTP upgrade): past it the oldest are dropped. */
export const UNAUTHENTICATED_LIMITS = { max: 128, maxPerSource: 16 } as const;

/**
 * The control channel: wss://HOST:PORT/ on an HTTPS server with the agent's certificate.
 * The admin token is checked at the HTTP upgrade; a console that fails is answered 401 (or
 * 429 while its address is throttled) and never gets a WebSocket. Sockets that have not
 * authenticated yet are bounded (UNAUTHENTICATED_LIMITS, oldest dropped first), and the
 * right token is always let in, even from an address locked out by failures: a guesser
 * sharing the console's address (NAT, the same host) cannot lock the console out, and a
 * 256-bit token cannot be guessed anyway; the lockout only slows and quiets the guessing.
 */
export class ControlServer {
  private server: Server | undefined;
  private readonly unauthenticated: HandshakePool;
  private readonly refusals: RefusalLog;
  private wss: WsServer<typeof AgentSocket> | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  private stopping = false;

  constructor(private readonly options: ControlServerOptions) {
    this.refusals = new RefusalLog({ log: options.log, what: 'refused console connections' });
    this.unauthenticated = new HandshakePool(UNAUTHENTICATED_LIMITS, (source) =>
      this.refusals.warn(
        { source, reason: 'unauthenticated' },
        `too many unauthenticated connections: dropped the oldest from ${source}`,
      ),
    );
  }

  async start(): Promise<{ url: string; port: number }> {
    const { listen, tls, limits, log } = this.options;
    const server = createServer({
      key: tls.keyPem,
      cert: tls.certPem,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 10_000,
    });
    server.headersTimeout = 15_000;
    server.requestTimeout = 30_000;
    server.on('connection', (socket: Socket) => this.unauthenticated.add(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => answerPlainRequest(res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
    server.on('clientError', (err, socket) => {
      log.debug({ err: err.message }, 'bad HTTP request');
      socket.destroy();
    });
    this.wss = new WebSocketServer<typeof AgentSocket>({
      noServer: true,
      maxPayload: limits.maxFrameBytes,
      WebSocket: AgentSocket,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new TidelineError(
            'UNAVAILABLE',
            `Cannot listen on ${listen.host}:${listen.port}: ${errnoMessage(err)}`,
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: listen.host, port: listen.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error({ err }, 'control server error'));
        resolve();
      });
    });
    this.keepalive = setInterval(() => this.heartbeat(), this.options.keepaliveMs);
    this.keepalive.unref();
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : listen.port;
    const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
    return { url: `wss://${host}:${port}/`, port };
  }

  /** Sends a notification frame to every console that has completed hello. */
  broadcast(text: string): void {
    for (const connection of this.connections) connection.notify(text);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, closes every connection with 1001, and waits (briefly) for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    const server = this.server;
    const serverClosed = new Promise<void>((resolve) => {
      if (server === undefined || !server.listening) resolve();
      else server.close(() => resolve());
    });
    server?.closeAllConnections();
    const open = [...this.connections];
    for (const connection of open) connection.close(1001, 'The agent is shutting down');
    const allClosed = Promise.all(open.map((c) => c.closed));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), SHUTDOWN_GRACE_MS);
    });
    if ((await Promise.race([allClosed, timedOut])) === 'timeout') {
      for (const connection of open) connection.terminate();
    }
    clearTimeout(timer);
    this.wss?.close();
    this.refusals.stop();
    await serverClosed;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { log, throttle, adminToken } = this.options;
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    const peer = normalizeAddress(req.socket.remoteAddress);
    const source = sourceKey(req.socket.remoteAddress);
    if (this.stopping) {
      refuseUpgrade(socket, 503, 'Service unavailable: the agent is shutting down');
      return;
    }
    if (pathOf(req.url) !== '/') {
      refuseUpgrade(socket, 404, 'Not found: the control channel is at /');
      return;
    }
    const token = parseBearer(req.headers.authorization);
    const valid = token !== undefined && verifyToken(token, adminToken);
    const verdict = throttle.check(source);
    if (!valid && !verdict.allowed) {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      this.refusals.warn(
        { source, peer, reason: 'throttled', retryAfterS: seconds },
        'authentication throttled',
      );
      refuseUpgrade(socket, 429, `Too many failed attempts from ${source}: retry in ${seconds} s`, {
        'Retry-After': String(seconds),
      });
      return;
    }
    if (!valid) {
      const lockoutMs = throttle.recordFailure(source);
      const reason = token === undefined ? 'missing token' : 'wrong token';
      this.refusals.warn(
        { source, peer, reason, failures: throttle.failures(source), lockoutMs },
        'authentication failed',
      );
      refuseUpgrade(
        socket,
        401,
        token === undefined
          ? 'Unauthorized: send "Authorization: Bearer <token>" with the admin token that tideline-agent init printed'
          : 'Unauthorized: the token is not valid for this agent',
        { 'WWW-Authenticate': 'Bearer realm="tideline-agent"' },
      );
      return;
    }
    // A success lifts the count, but not a lockout in force (a guesser may share the address).
    if (verdict.allowed) throttle.recordSuccess(source);
    if (this.connections.size >= this.options.maxConnections) {
      log.warn({ peer, limit: this.options.maxConnections }, 'too many connections');
      refuseUpgrade(
        socket,
        503,
        `Service unavailable: this agent serves at most ${this.options.maxConnections} connections`,
      );
      return;
    }
    this.unauthenticated.settle(req.socket);
    this.wss?.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, peer));
  }

  private onConnection(ws: AgentSocket, peer: string): void {
    const id = this.nextId++;
    const session = { id, peer, protocolVersion: undefined };
    const connection = new Connection(
      ws,
      session,
      this.options.dispatcher,
      this.options.limits,
      this.options.log.child({ conn: id, peer }),
    );
    this.connections.add(connection);
    drop(
      connection.closed.then(() => this.connections.delete(connection)),
      (err) => this.options.log.error({ err }, 'connection bookkeeping failed'),
    );
    connection.start();
    if (this.stopping) connection.close(1001, 'The agent is shutting down');
  }

  private heartbeat(): void {
    for (const connection of this.connections) connection.heartbeat();
  }
}

function answerPlainRequest(res: ServerResponse): void {
  const body =
    'This is the Tideline agent control channel: connect with WebSocket (wss://) and a bearer token.\n';
  res.writeHead(426, {
    'Content-Type': 'text/plain; charset=utf-8',
    Upgrade: 'websocket',
    Connection: 'close',
  });
  res.end(body);
}

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'https://agent.invalid').pathname;
  } catch {
    return '';
  }
}

/** 127.0.0.1 rather than ::ffff:127.0.0.1, so one peer is throttled under one name. */
function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
