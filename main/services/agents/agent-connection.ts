import { EventEmitter } from 'node:events';
import {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type AgentIdentity,
  type AgentMethods,
  type AgentView,
  type AgentConnectionState,
  type InventoryChanged,
  type NotificationParams,
  type ParamsIn,
  type AgentNotifications,
  type ResultOut,
} from '../../../app/protocol';
import { TidelineError, toTidelineError } from '../../../app/errors';
import { CONSOLE_PRODUCT, CONSOLE_VERSION } from '../version';
import { drop } from '../util/drop';
import { Backoff, type BackoffOptions } from '../../../app/backoff';
import { incompatible } from './errors';
import { openSession, type AgentSession, type SessionOptions } from './agent-session';

export interface AgentEntry {
  readonly key: string;
  readonly address: string;
  /** The pinned certificate fingerprint. */
  readonly fingerprint: string;
  readonly token: string;
}

export interface ConnectionOptions extends SessionOptions {
  readonly backoff?: BackoffOptions;
  /** Runs after hello, before the state becomes 'connected' (the estate loads inventory). */
  readonly initialize?: (connection: AgentConnection) => Promise<void>;
}

export type ConnectionEvents = {
  change: [];
  'inventory.changed': [InventoryChanged];
  'rpo.tick': [NotificationParams<AgentNotifications, 'rpo.tick'>];
  'vpg.status': [NotificationParams<AgentNotifications, 'vpg.status'>];
  'task.progress': [NotificationParams<AgentNotifications, 'task.progress'>];
  'alert.raised': [NotificationParams<AgentNotifications, 'alert.raised'>];
  'alert.cleared': [NotificationParams<AgentNotifications, 'alert.cleared'>];
  'failover.status': [NotificationParams<AgentNotifications, 'failover.status'>];
};

/** States in which only the admin can make progress: no automatic retry. */
const TERMINAL: Partial<Record<string, AgentConnectionState>> = {
  UNAUTHORIZED: 'unauthorized',
  FINGERPRINT_MISMATCH: 'fingerprint-mismatch',
  PROTOCOL_VERSION: 'incompatible',
};

/**
 * One agent's connection: connect (pinned TLS, token), hello, then stay connected; on loss
 * retry with back-off; on a wrong token, certificate or protocol, stop and say why.
 */
export class AgentConnection extends EventEmitter<ConnectionEvents> {
  private state: AgentConnectionState = 'connecting';
  private lastError: TidelineError | undefined;
  private nextRetryAt: number | undefined;
  private connectedSince: number | undefined;
  private identity: AgentIdentity | undefined;
  private session: AgentSession | undefined;
  private attempting: Promise<void> | undefined;
  private timer: unknown;
  private autoRetry = false;
  private stopped = false;
  private readonly backoff: Backoff;

  constructor(
    readonly entry: AgentEntry,
    private readonly options: ConnectionOptions,
  ) {
    super();
    this.backoff = new Backoff(options.backoff);
  }

  get key(): string {
    return this.entry.key;
  }

  get agentIdentity(): AgentIdentity | undefined {
    return this.identity;
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  view(): AgentView {
    const v: AgentView = {
      key: this.entry.key,
      address: this.entry.address,
      fingerprint: this.entry.fingerprint,
      state: this.state,
    };
    if (this.lastError)
      v.lastError = { code: this.lastError.code, message: this.lastError.message };
    if (this.state === 'retrying' && this.nextRetryAt !== undefined)
      v.nextRetryAt = this.nextRetryAt;
    if (this.state === 'connected' && this.connectedSince !== undefined)
      v.connectedSince = this.connectedSince;
    if (this.identity) v.identity = this.identity;
    return v;
  }

  /** Connects now and keeps retrying after failures and losses. */
  start(): void {
    this.stopped = false;
    this.autoRetry = true;
    drop(this.attempt());
  }

  /** Keep retrying from now on (after a first attempt made with connectOnce). */
  enableRetry(): void {
    this.autoRetry = true;
  }

  /** One attempt without automatic retry; rejects with the reason it failed. */
  connectOnce(): Promise<void> {
    this.stopped = false;
    return this.attempt();
  }

  /** Try now instead of waiting for the back-off timer (also after an admin fixed something). */
  async reconnect(): Promise<AgentView> {
    if (this.state !== 'connected') {
      this.stopped = false;
      this.autoRetry = true;
      await this.attempt().catch(() => {});
    }
    return this.view();
  }

  /** Parks the connection in a state only the admin can resolve (e.g. a token that can't be read). */
  block(
    state: 'unauthorized' | 'fingerprint-mismatch' | 'incompatible',
    error: TidelineError,
  ): void {
    this.stop();
    this.lastError = error;
    this.setState(state);
  }

  stop(): void {
    this.stopped = true;
    this.autoRetry = false;
    this.options.clock.clear(this.timer);
    this.timer = undefined;
    this.session?.close();
    this.session = undefined;
  }

  /** `timeoutMs` overrides the call timeout (for methods that wait, like checkpoint.waitFor). */
  call<M extends keyof AgentMethods & string>(
    method: M,
    params?: ParamsIn<AgentMethods, M>,
    opts: { timeoutMs?: number } = {},
  ): Promise<ResultOut<AgentMethods, M>> {
    if (this.session === undefined) {
      const msg = `The agent at ${this.entry.address} is not connected (${this.state}).`;
      return Promise.reject(new TidelineError('UNAVAILABLE', msg, { address: this.entry.address }));
    }
    return this.session.client.call(method, params, opts);
  }

  private attempt(): Promise<void> {
    this.attempting ??= this.runAttempt().finally(() => (this.attempting = undefined));
    return this.attempting;
  }

  private async runAttempt(): Promise<void> {
    this.options.clock.clear(this.timer);
    this.timer = undefined;
    this.setState('connecting');
    let session: AgentSession | undefined;
    try {
      const opened = await openSession(this.entry, this.options);
      session = opened;
      if (this.stopped) throw new TidelineError('CONNECTION_CLOSED', 'Disconnected by the console');
      this.session = opened;
      opened.client.on('inventory.changed', (p) => this.emit('inventory.changed', p));
      opened.client.on('rpo.tick', (p) => this.emit('rpo.tick', p));
      opened.client.on('vpg.status', (p) => this.emit('vpg.status', p));
      opened.client.on('task.progress', (p) => this.emit('task.progress', p));
      opened.client.on('alert.raised', (p) => this.emit('alert.raised', p));
      opened.client.on('alert.cleared', (p) => this.emit('alert.cleared', p));
      opened.client.on('failover.status', (p) => this.emit('failover.status', p));
      opened.onClose((reason) => this.lost(opened, reason));
      await this.hello();
      await this.options.initialize?.(this);
      if (this.stopped) throw new TidelineError('CONNECTION_CLOSED', 'Disconnected by the console');
      this.backoff.reset();
      this.lastError = undefined;
      this.connectedSince = this.options.clock.now();
      this.options.logger.info({ key: this.key, address: this.entry.address }, 'agent connected');
      this.setState('connected');
    } catch (err) {
      const error = toTidelineError(err, `Could not connect to the agent at ${this.entry.address}`);
      if (this.session === session) this.session = undefined;
      session?.close();
      this.failed(error);
      throw error;
    }
  }

  private async hello(): Promise<void> {
    const address = this.entry.address;
    try {
      const result = await this.call('hello', {
        protocolVersion: PROTOCOL_VERSION,
        client: { product: CONSOLE_PRODUCT, version: CONSOLE_VERSION },
      });
      if (
        result.protocolVersion < MIN_PROTOCOL_VERSION ||
        result.protocolVersion > PROTOCOL_VERSION
      ) {
        const range = `${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`;
        throw incompatible(
          address,
          `it chose version ${result.protocolVersion}, this console speaks ${range}.`,
        );
      }
      this.identity = result.agent;
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'PROTOCOL_VERSION') {
        throw err.message.includes(address) ? err : incompatible(address, err.message);
      }
      throw err;
    }
  }

  private failed(error: TidelineError): void {
    this.lastError = error;
    const terminal = TERMINAL[error.code];
    this.options.logger.warn(
      { key: this.key, address: this.entry.address, code: error.code, reason: error.message },
      'agent connection failed',
    );
    if (terminal !== undefined) return this.setState(terminal);
    this.scheduleRetry();
  }

  private lost(session: AgentSession, reason: string): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (this.stopped) return;
    this.options.logger.warn(
      { key: this.key, address: this.entry.address, reason },
      'agent connection lost',
    );
    if (this.state !== 'connected') return; // the attempt in progress reports its own failure
    this.lastError = new TidelineError(
      'CONNECTION_CLOSED',
      `The connection to the agent at ${this.entry.address} was lost; reconnecting.`,
    );
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.autoRetry || this.stopped) {
      this.nextRetryAt = undefined;
      return this.setState('retrying');
    }
    const delay = this.backoff.next();
    this.nextRetryAt = this.options.clock.now() + delay;
    this.timer = this.options.clock.set(delay, () => {
      this.timer = undefined;
      drop(this.attempt());
    });
    this.setState('retrying');
  }

  private setState(state: AgentConnectionState): void {
    this.state = state;
    this.emit('change');
  }
}
