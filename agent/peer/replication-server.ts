import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { TidelineError, isTidelineError } from '../../app/errors';
import { formatAddress } from '../config/listen';
import type { ListenAddress } from '../control/control-server';
import type { Logger } from '../log';
import { errnoMessage } from '../store/json-file';
import { HandshakePool } from '../security/handshake-pool';
import { drop } from '../util/drop';
import type { RefusalSink } from '../util/refusal-log';
import { FrameConnection } from './frame-connection';
import type { TlsKeyPair } from './tls-dial';
import { MAX_HANDSHAKE_PAYLOAD, type Frame } from './wire';

export interface ReplicationServerOptions {
  readonly listen: ListenAddress;
  readonly tls: TlsKeyPair;
  readonly log: Logger;
  /** The TLS handshake, and a pinned peer's first frame (default 10 s). */
  readonly handshakeTimeoutMs: number;
  /** Admission limits for everyone else (DEFAULT_ADMISSION). */
  readonly admission?: Partial<Admission>;
  /** Whether a client certificate's fingerprint is pinned (a paired agent). */
  readonly isPinned: (fingerprint: string) => boolean;
  /** Where refusals are logged (rate-limited: a flood must not fill the disk). */
  readonly refusals: RefusalSink;
  /** Gets each connection with its first frame (HELLO or PAIR); must answer or close it. */
  readonly route: (conn: FrameConnection, first: Frame) => void | Promise<void>;
}

/** Limits for connections that are not (yet) a paired agent's. */
export interface Admission {
  /** A stranger's (a pairing agent's) first frame must come within this. */
  readonly strangerTimeoutMs: number;
  /** Strangers between TLS handshake and first frame, in all and per source (IPv4, v6 /64). */
  readonly maxStrangers: number;
  readonly maxStrangersPerSource: number;
  /** Sockets still in their TLS handshake, in all and per source: past it the oldest go. */
  readonly maxTlsHandshakes: number;
  readonly maxTlsHandshakesPerSource: number;
}

export const DEFAULT_ADMISSION: Admission = {
  strangerTimeoutMs: 3_000,
  maxStrangers: 32,
  maxStrangersPerSource: 4,
  maxTlsHandshakes: 256,
  maxTlsHandshakesPerSource: 16,
};

/**
 * The replication listener: TLS with the agent's own certificate, asking every client for its
 * certificate but not validating it against a CA (there is none). Right after the TLS
 * handshake the client certificate decides the path:
 *
 * - pinned (a paired agent): its first frame may take handshakeTimeoutMs, and it never waits
 *   behind strangers: no limit below applies to it, so a flood cannot keep sites apart;
 * - none: refused at once (every agent has one);
 * - any other (an agent pairing, or a stranger): a few per source and a bounded number in all,
 *   and one frame of at most 64 KiB within strangerTimeoutMs.
 *
 * Before the TLS handshake nobody is known, so sockets there are bounded by evicting the
 * oldest (in all and per source) instead of refusing the newest: a flood churns itself while
 * a real peer's handshake, a round trip or two, completes. The caller (route) then accepts a
 * pinned fingerprint or a valid pairing token, and refuses anything else with a REFUSED frame.
 */
export class ReplicationServer {
  private server: Server | undefined;
  private readonly pending = new Set<FrameConnection>();
  private readonly strangers = new Map<FrameConnection, string>();
  /** Sockets in their TLS handshake. */
  private readonly handshaking: HandshakePool;
  private readonly sockets = new Set<Socket>();
  private readonly admission: Admission;
  private stopping = false;

  constructor(private readonly options: ReplicationServerOptions) {
    this.admission = { ...DEFAULT_ADMISSION, ...options.admission };
    this.handshaking = new HandshakePool(
      {
        max: this.admission.maxTlsHandshakes,
        maxPerSource: this.admission.maxTlsHandshakesPerSource,
      },
      (source) =>
        options.refusals.warn(
          { source, reason: 'handshakes' },
          `too many TLS handshakes at once: dropped the oldest from ${source}`,
        ),
    );
  }

  async start(): Promise<ListenAddress> {
    const { listen, tls, log } = this.options;
    const server = createServer({
      key: tls.keyPem,
      cert: tls.certPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      handshakeTimeout: this.options.handshakeTimeoutMs,
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      this.handshaking.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.onConnection(socket));
    server.on('tlsClientError', (err) =>
      log.debug({ err: err.message }, 'replication TLS handshake failed'),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new TidelineError(
            'UNAVAILABLE',
            `Cannot listen for replication on ${formatAddress(listen)}: ${errnoMessage(err)} (choose another with --replication-listen)`,
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: listen.host, port: listen.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error({ err }, 'replication server error'));
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : listen.port;
    return { host: listen.host, port };
  }

  /** Stops accepting and drops connections still in their handshake. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const conn of this.pending) conn.destroy('the agent is shutting down');
    const server = this.server;
    this.server = undefined;
    if (server === undefined || !server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Destroys every connection still open (after the links have closed theirs). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Refuses a stranger past the limits; else counts it until its first frame. */
  private admitStranger(conn: FrameConnection, source: string): boolean {
    const { maxStrangers, maxStrangersPerSource } = this.admission;
    let fromSource = 0;
    for (const other of this.strangers.values()) if (other === source) fromSource += 1;
    if (fromSource < maxStrangersPerSource && this.strangers.size < maxStrangers) {
      this.strangers.set(conn, source);
      return true;
    }
    const message =
      fromSource >= maxStrangersPerSource
        ? `Too many unauthenticated connections from ${source} at once (limit ${maxStrangersPerSource}): retry later`
        : 'Too many unauthenticated connections at once: retry later';
    this.options.refusals.warn({ source, remote: conn.remote, reason: 'busy' }, message);
    conn.refuse('busy', 'TOO_MANY_REQUESTS', message);
    return false;
  }

  private onConnection(socket: TLSSocket): void {
    const { log, handshakeTimeoutMs, route, refusals } = this.options;
    this.handshaking.settle(socket);
    const conn = new FrameConnection(socket, MAX_HANDSHAKE_PAYLOAD, log);
    const source = conn.source;
    if (this.stopping) {
      conn.refuse('shutting-down', 'UNAVAILABLE', 'The agent is shutting down');
      return;
    }
    const fingerprint = conn.peerFingerprint;
    if (fingerprint === undefined) {
      const message =
        'This site accepts only agents, identified by their certificate: none was presented';
      refusals.warn({ source, remote: conn.remote, reason: 'no-certificate' }, message);
      conn.refuse('no-certificate', 'UNAUTHORIZED', message);
      return;
    }
    const pinned = this.options.isPinned(fingerprint);
    if (!pinned && !this.admitStranger(conn, source)) return;
    this.pending.add(conn);
    const timeoutMs = pinned ? handshakeTimeoutMs : this.admission.strangerTimeoutMs;
    const handshake = async (): Promise<void> => {
      let first: Frame;
      try {
        first = await conn.nextFrame(timeoutMs, 'HELLO or PAIR frame');
      } catch (err) {
        if (isTidelineError(err) && err.code === 'TIMEOUT') {
          refusals.warn(
            { source, remote: conn.remote, reason: 'handshake-timeout' },
            'peer sent no handshake: closing',
          );
          conn.refuse('handshake-timeout', 'TIMEOUT', err.message);
        }
        return;
      } finally {
        this.pending.delete(conn);
        this.strangers.delete(conn);
      }
      await route(conn, first);
    };
    drop(handshake(), (err) => {
      log.error({ err, remote: conn.remote }, 'internal error on a peer connection');
      conn.refuse(
        'internal',
        'INTERNAL_ERROR',
        'Internal error on the receiving agent: see its log',
      );
    });
  }
}
