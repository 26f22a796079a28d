import { TidelineError } from '../../app/errors';
import { RpcClient, type Timers } from '../../app/protocol/client';
import {
  consoleMethods,
  consoleNotifications,
  type ConsoleApi,
  type ConsoleMethods,
  type ConsoleNotifications,
} from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { Backoff } from '../../app/backoff';
import type { ConnectionStatus, ConsoleConnection } from './connection';

const CALL_TIMEOUT_MS = 60_000;
const OPEN_TIMEOUT_MS = 10_000;

const timers: Timers = {
  set: (ms, fn) => window.setTimeout(fn, ms),
  clear: (handle) => window.clearTimeout(handle as number),
};

/** Same origin as the page; the session cookie the server set authenticates the upgrade. */
export function consoleSocketUrl(loc: Location = window.location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/api`;
}

/**
 * Browser mode: the ConsoleApi over one WebSocket, reconnected with back-off whenever it
 * drops. Calls made while it is down fail at once with CONNECTION_CLOSED rather than hang.
 */
export class SocketConnection implements ConsoleConnection {
  readonly mode = 'browser';
  readonly api: ConsoleApi;
  private readonly client: RpcClient<ConsoleMethods, ConsoleNotifications>;
  private readonly listeners = new Set<(status: ConnectionStatus) => void>();
  private current: ConnectionStatus = { state: 'connecting', attempt: 0 };
  private socket: WebSocket | undefined;
  private retryTimer: number | undefined;
  private openTimer: number | undefined;
  /** A page reconnects to its own console: a lower cap than the core's agent reconnects. */
  private readonly backoff = new Backoff({ maxMs: 10_000 });

  constructor(private readonly url: string) {
    this.client = new RpcClient(consoleMethods, consoleNotifications, {
      send: (text) => this.send(text),
      timers,
      defaultTimeoutMs: CALL_TIMEOUT_MS,
      onProtocolError: (err) =>
        console.warn(`Console sent a frame we could not use: ${err.message}`),
    });
    this.api = { ...this.client.api, on: (event, listener) => this.client.on(event, listener) };
    window.addEventListener('online', () => this.retryNow());
    this.connect();
  }

  status(): ConnectionStatus {
    return this.current;
  }

  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  retryNow(): void {
    if (this.current.state !== 'lost') return;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.connect();
  }

  private send(text: string): void {
    if (this.socket === undefined || this.socket.readyState !== WebSocket.OPEN) {
      throw new TidelineError('CONNECTION_CLOSED', 'The console connection is down; reconnecting.');
    }
    this.socket.send(text);
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    if (this.current.state === 'lost')
      this.setStatus({ state: 'connecting', attempt: this.current.attempt });
    this.openTimer = window.setTimeout(() => socket.close(), OPEN_TIMEOUT_MS);
    socket.addEventListener('open', () => {
      window.clearTimeout(this.openTimer);
      this.backoff.reset();
      this.setStatus({ state: 'open', attempt: 0 });
    });
    socket.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (typeof event.data === 'string') this.client.handleText(event.data);
    });
    socket.addEventListener('close', () => this.onClose(socket));
  }

  private onClose(socket: WebSocket): void {
    if (socket !== this.socket) return;
    window.clearTimeout(this.openTimer);
    this.socket = undefined;
    this.client.failAll(
      new TidelineError(
        'CONNECTION_CLOSED',
        'Lost the connection to the console before it answered.',
      ),
    );
    const attempt = this.current.attempt + 1;
    const delay = this.backoff.next();
    this.setStatus({ state: 'lost', attempt, nextRetryAt: Date.now() + delay });
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private setStatus(status: ConnectionStatus): void {
    this.current = status;
    for (const listener of [...this.listeners]) listener(status);
  }
}
