import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { TidelineError, isTidelineError } from '../../app/errors';
import { formatAddress } from '../config/listen';
import type { ListenAddress } from '../control/control-server';
import type { Logger } from '../log';
import { errnoMessage } from '../store/json-file';
import { drop } from '../util/drop';
import { FrameConnection } from './frame-connection';
import type { TlsKeyPair } from './tls-dial';
import { MAX_HANDSHAKE_PAYLOAD, type Frame } from './wire';

export interface ReplicationServerOptions {
  readonly listen: ListenAddress;
  readonly tls: TlsKeyPair;
  readonly log: Logger;
  /** TLS handshake, and then the first frame (default 10 s). */
  readonly handshakeTimeoutMs: number;
  /** Connections still in their handshake at once; more are refused (busy). */
  readonly maxPending: number;
  /** Gets each connection with its first frame (HELLO or PAIR); must answer or close it. */
  readonly route: (conn: FrameConnection, first: Frame) => void | Promise<void>;
}

/**
 * The replication listener: TLS with the agent's own certificate, asking every client for its
 * certificate but not validating it against a CA (there is none): the caller (route) accepts
 * a pinned fingerprint or a valid pairing token, and refuses anything else with a REFUSED
 * frame. Until then a connection may send one frame of at most 64 KiB, within 10 s.
 */
export class ReplicationServer {
  private server: Server | undefined;
  private readonly pending = new Set<FrameConnection>();
  private readonly sockets = new Set<Socket>();
  private stopping = false;

  constructor(private readonly options: ReplicationServerOptions) {}

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

  private onConnection(socket: TLSSocket): void {
    const { log, handshakeTimeoutMs, maxPending, route } = this.options;
    const conn = new FrameConnection(socket, MAX_HANDSHAKE_PAYLOAD, log);
    if (this.stopping) {
      conn.refuse('shutting-down', 'UNAVAILABLE', 'The agent is shutting down');
      return;
    }
    if (this.pending.size >= maxPending) {
      log.warn(
        { remote: conn.remote, limit: maxPending },
        'too many peer handshakes at once: refusing',
      );
      conn.refuse(
        'busy',
        'TOO_MANY_REQUESTS',
        'Too many connections in their handshake: retry later',
      );
      return;
    }
    this.pending.add(conn);
    const handshake = async (): Promise<void> => {
      let first: Frame;
      try {
        first = await conn.nextFrame(handshakeTimeoutMs, 'HELLO or PAIR frame');
      } catch (err) {
        if (isTidelineError(err) && err.code === 'TIMEOUT') {
          log.info({ remote: conn.remote }, 'peer sent no handshake: closing');
          conn.refuse('handshake-timeout', 'TIMEOUT', err.message);
        }
        return;
      } finally {
        this.pending.delete(conn);
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
