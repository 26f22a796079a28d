import type { RawData, WebSocket } from 'ws';
import { TidelineError, type ErrorCodeName, type ErrorData } from '../../app/errors';
import {
  failure,
  type AgentMethods,
  type Dispatcher,
  type RequestId,
  type Response,
} from '../../app/protocol';
import type { Logger } from '../log';
import { formatBytes } from '../util/bytes';
import { drop } from '../util/drop';
import type { ConnectionLimits } from './limits';
import { isHandshaken, type Session } from './session';

export type AgentDispatcher = Dispatcher<AgentMethods, Session>;

/**
 * One console connection: turns frames into dispatched requests and answers, within the
 * connection's limits. Nothing a peer sends can throw out of here; it gets an error answer,
 * or, for a peer that does not read or never says hello, the connection is closed.
 */
export class Connection {
  readonly closed: Promise<void>;
  private resolveClosed: () => void = () => undefined;
  private inFlight = 0;
  private alive = true;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private terminateTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly session: Session,
    private readonly dispatcher: AgentDispatcher,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  start(): void {
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('pong', () => {
      this.alive = true;
    });
    this.ws.on('error', (err) => this.log.info({ err: err.message }, 'connection error'));
    this.ws.on('close', (code, reason) => {
      this.clearTimers();
      this.log.info({ code, reason: reason.toString() }, 'console disconnected');
      this.resolveClosed();
    });
    if (this.limits.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(() => {
        this.close(
          1008,
          `No hello within ${Math.round(this.limits.handshakeTimeoutMs / 1000)} s: call hello first`,
        );
      }, this.limits.handshakeTimeoutMs);
    }
    this.log.info('console connected');
  }

  /** Sends a notification, if this console has completed hello. */
  notify(text: string): void {
    if (isHandshaken(this.session)) this.send(text);
  }

  /** Keepalive tick: false (and the connection is terminated) if the last ping got no pong. */
  heartbeat(): boolean {
    if (!this.alive) {
      this.log.warn('console did not answer ping: terminating');
      this.ws.terminate();
      return false;
    }
    this.alive = false;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
    return true;
  }

  /** Starts a close; a peer that does not finish it within the grace period is cut off. */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close(code, reason);
    this.terminateTimer ??= setTimeout(() => this.ws.terminate(), this.limits.closeGraceMs);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.replyError(
        null,
        'INVALID_REQUEST',
        'Binary frames are not accepted: send each JSON-RPC request as a text frame',
      );
      return;
    }
    const size = rawSize(data);
    if (size > this.limits.maxRequestBytes) {
      this.log.warn({ size }, 'request too large');
      this.replyError(
        null,
        'FRAME_TOO_LARGE',
        `Request of ${formatBytes(size)} exceeds the limit of ${formatBytes(this.limits.maxRequestBytes)}; it was not processed`,
        { size, limit: this.limits.maxRequestBytes },
      );
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(rawText(data));
    } catch {
      this.replyError(null, 'PARSE_ERROR', 'Parse error: the message is not valid JSON');
      return;
    }
    const count = Array.isArray(value) ? Math.max(value.length, 1) : 1;
    if (this.inFlight + count > this.limits.maxInFlight) {
      this.refuseBusy(value);
      return;
    }
    this.inFlight += count;
    drop(this.dispatch(value, count), (err) => this.log.error({ err }, 'dispatch failed'));
  }

  private async dispatch(value: unknown, count: number): Promise<void> {
    try {
      const response = await this.dispatcher.handleValue(value, this.session);
      if (this.handshakeTimer !== undefined && isHandshaken(this.session)) {
        clearTimeout(this.handshakeTimer);
        this.handshakeTimer = undefined;
      }
      if (response !== undefined) this.send(JSON.stringify(response));
    } finally {
      this.inFlight -= count;
    }
  }

  private refuseBusy(value: unknown): void {
    const error = new TidelineError(
      'TOO_MANY_REQUESTS',
      `Too many requests in flight on this connection (limit ${this.limits.maxInFlight}): wait for answers before sending more`,
      { limit: this.limits.maxInFlight },
    );
    const items = Array.isArray(value) ? value : [value];
    const answers: Response[] = items.filter(hasId).map((item) => failure(idOf(item), error));
    if (answers.length === 0) return;
    this.send(JSON.stringify(Array.isArray(value) ? answers : answers[0]));
  }

  private replyError(id: RequestId, code: ErrorCodeName, message: string, data?: ErrorData): void {
    this.send(JSON.stringify(failure(id, new TidelineError(code, message, data))));
  }

  private send(text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(text, (err) => {
      if (err) this.log.debug({ err: err.message }, 'send failed');
    });
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.limits.maxBufferedBytes) {
      this.log.warn({ buffered }, 'console is not reading: disconnecting');
      this.close(
        1008,
        `Console not reading: ${formatBytes(buffered)} waiting, limit ${formatBytes(this.limits.maxBufferedBytes)}`.slice(
          0,
          120,
        ),
      );
    }
  }

  private clearTimers(): void {
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    if (this.terminateTimer !== undefined) clearTimeout(this.terminateTimer);
    this.handshakeTimer = undefined;
    this.terminateTimer = undefined;
  }
}

function hasId(item: unknown): boolean {
  return item !== null && typeof item === 'object' && 'id' in item;
}

function idOf(item: unknown): RequestId {
  const id = item !== null && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, b) => sum + b.length, 0);
  return data.byteLength;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
