import { WebSocket, type RawData } from 'ws';
import {
  MAX_FRAME_BYTES,
  RpcClient,
  agentMethods,
  agentNotifications,
  type AgentMethods,
  type AgentNotifications,
} from '../../../app/protocol';
import { TidelineError } from '../../../app/errors';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { wsUrl } from './address';
import { socketReason, timedOut, unauthorized, unreachable } from './errors';
import { connectPinned } from './tls';

export interface SessionTarget {
  readonly address: string;
  readonly fingerprint: string;
  readonly token: string;
}

export interface SessionOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  readonly callTimeoutMs: number;
  /** Interval of WebSocket pings; a peer that misses two is considered gone. */
  readonly heartbeatMs: number;
}

/** One open, authenticated WebSocket to an agent with its JSON-RPC client. */
export class AgentSession {
  readonly client: RpcClient<AgentMethods, AgentNotifications>;
  private closeListener: ((reason: string) => void) | undefined;
  private heartbeat: unknown;
  private alive = true;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: SessionOptions,
    private readonly address: string,
  ) {
    this.client = new RpcClient(agentMethods, agentNotifications, {
      send: (text) => {
        if (ws.readyState !== WebSocket.OPEN) {
          throw new TidelineError('CONNECTION_CLOSED', `The connection to ${address} is closed`);
        }
        ws.send(text);
      },
      timers: options.clock,
      defaultTimeoutMs: options.callTimeoutMs,
      onProtocolError: (err) =>
        options.logger.warn({ address, err: err.message }, 'agent protocol error'),
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.client.handleText(rawText(data));
    });
    ws.on('pong', () => (this.alive = true));
    ws.on('error', (err) =>
      options.logger.debug({ address, reason: socketReason(err) }, 'agent socket error'),
    );
    ws.on('close', (code: number) => this.finish(`closed (${code})`));
    this.scheduleHeartbeat();
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListener = listener;
    if (this.closed) listener('closed');
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'console closing');
    else this.ws.terminate();
    this.finish('closed by the console');
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.options.clock.clear(this.heartbeat);
    this.client.failAll(
      new TidelineError(
        'CONNECTION_CLOSED',
        `The connection to the agent at ${this.address} was lost`,
      ),
    );
    this.closeListener?.(reason);
  }

  private scheduleHeartbeat(): void {
    this.heartbeat = this.options.clock.set(this.options.heartbeatMs, () => {
      if (this.closed) return;
      if (!this.alive) {
        this.options.logger.warn(
          { address: this.address },
          'agent missed its heartbeat; reconnecting',
        );
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
      this.scheduleHeartbeat();
    });
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * TLS with the pinned fingerprint first, then the WebSocket upgrade over that very socket:
 * the bearer token is only ever written to a server that proved it holds the pinned key.
 */
export async function openSession(
  target: SessionTarget,
  options: SessionOptions,
): Promise<AgentSession> {
  const { address } = target;
  const socket = await connectPinned(address, target.fingerprint, {
    timeoutMs: options.connectTimeoutMs,
  });
  return new Promise<AgentSession>((resolve, reject) => {
    let settled = false;
    const settle = (err: TidelineError | undefined): void => {
      if (settled) return;
      settled = true;
      if (err === undefined) return resolve(new AgentSession(ws, options, address));
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      socket.destroy();
      reject(err);
    };
    const ws = new WebSocket(wsUrl(address), {
      createConnection: () => socket,
      headers: { Authorization: `Bearer ${target.token}` },
      handshakeTimeout: options.connectTimeoutMs,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    ws.once('open', () => settle(undefined));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      settle(refusal(address, status));
    });
    ws.once('error', (err: Error) => {
      settle(
        /timed out/i.test(err.message)
          ? timedOut(address, 'WebSocket handshake')
          : unreachable(address, socketReason(err)),
      );
    });
    ws.once('close', () =>
      settle(unreachable(address, 'the connection closed during the handshake')),
    );
  });
}

function refusal(address: string, status: number): TidelineError {
  if (status === 401 || status === 403) return unauthorized(address);
  if (status === 429) {
    const msg = `The agent at ${address} refuses connections from here for a while after too many failed attempts.`;
    return new TidelineError('TOO_MANY_REQUESTS', msg, { address });
  }
  return unreachable(address, `it answered HTTP ${status} instead of opening a WebSocket`);
}
