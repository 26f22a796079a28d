import { lstat, unlink } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TidelineError } from '../../app/errors';
import type { ListenAddress } from '../control/control-server';
import type { Logger } from '../log';
import { errnoMessage } from '../store/json-file';
import type { ExportSource } from './exports';
import { negotiate, type NbdIo } from './handshake';
import type { NbdTls } from './nbd-tls';
import { ClientGone, SocketReader } from './socket-reader';
import { DEFAULT_TRANSMISSION_LIMITS, Transmission, type TransmissionLimits } from './transmission';

/** sun_path is 108 bytes on Linux, NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;
const DEFAULT_MAX_CONNECTIONS = 512;
/** A client that has not chosen an export by then is dropped (slow or idle handshakes). */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;
/** How long stop() lets connections answer their requests in flight before cutting them. */
const STOP_GRACE_MS = 5_000;

export interface NbdServerOptions {
  readonly exports: ExportSource;
  /** The unix socket to serve on (mode 0600; a stale socket file is replaced). */
  readonly socketPath?: string;
  /** Also serve on TCP (TCP_NODELAY). */
  readonly tcp?: ListenAddress;
  readonly log: Logger;
  readonly limits?: TransmissionLimits;
  readonly maxConnections?: number;
  readonly handshakeTimeoutMs?: number;
  /** TLS-PSK (STARTTLS): offered on every listener, required on TCP. */
  readonly tls?: NbdTls;
}

export interface NbdEndpoints {
  readonly socketPath?: string;
  readonly tcp?: { readonly host: string; readonly port: number };
}

interface Connection {
  socket: Socket;
  transmission: Transmission | undefined;
}

/**
 * The agent's NBD server: listeners (unix socket, optional TCP) and the connections, each a
 * handshake (handshake.ts) then a transmission loop (transmission.ts) on the export it chose.
 * One connection's failure, malformed input or disappearance never reaches another one.
 */
export class NbdServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Connection>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly options: NbdServerOptions) {}

  async start(): Promise<NbdEndpoints> {
    const { socketPath, tcp } = this.options;
    let endpoints: NbdEndpoints = {};
    try {
      if (socketPath !== undefined) {
        await removeStaleSocket(socketPath);
        const server = this.createServer(false);
        await listen(server, socketPath);
        endpoints = { socketPath };
      }
      if (tcp !== undefined) {
        const server = this.createServer(true);
        await listen(server, tcp);
        const address = server.address() as AddressInfo;
        endpoints = { ...endpoints, tcp: { host: address.address, port: address.port } };
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    return endpoints;
  }

  /** Closes the listeners, lets connections answer what is in flight, then cuts them. */
  async stop(): Promise<void> {
    this.stopping = true;
    const closing = this.servers
      .splice(0)
      .map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const connection of this.connections) {
      if (connection.transmission !== undefined) connection.transmission.stop();
      else connection.socket.destroy();
    }
    const timer = setTimeout(() => {
      for (const connection of this.connections) connection.socket.destroy();
    }, STOP_GRACE_MS);
    await Promise.all([...this.running]);
    clearTimeout(timer);
    await Promise.all(closing);
    if (this.options.socketPath !== undefined) {
      await unlink(this.options.socketPath).catch(() => undefined);
    }
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private createServer(tcp: boolean): Server {
    const server = createServer((socket) => {
      const run = this.serve(socket, tcp).catch((err: unknown) => {
        this.options.log.error({ err }, 'NBD connection failed');
        socket.destroy();
      });
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    });
    server.on('error', (err) => this.options.log.error({ err }, 'NBD listener error'));
    this.servers.push(server);
    return server;
  }

  private async serve(socket: Socket, tcp: boolean): Promise<void> {
    const { log, exports } = this.options;
    socket.on('error', (err) => log.debug({ err }, 'NBD connection error'));
    if (
      this.stopping ||
      this.connections.size >= (this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS)
    ) {
      log.warn(
        { connections: this.connections.size },
        'NBD connection refused: too many connections',
      );
      socket.destroy();
      return;
    }
    if (tcp) socket.setNoDelay(true);
    const connection: Connection = { socket, transmission: undefined };
    this.connections.add(connection);
    try {
      const io: NbdIo = { socket, reader: new SocketReader(socket) };
      const timer = setTimeout(() => {
        log.info('NBD client did not choose an export in time: disconnecting');
        io.socket.destroy();
        socket.destroy();
      }, this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
      const tls = this.options.tls;
      let chosen;
      try {
        chosen = await negotiate(
          io,
          exports,
          log,
          tls === undefined ? undefined : { keys: tls, required: tcp },
        );
      } catch (err) {
        if (err instanceof ClientGone) return;
        throw err;
      } finally {
        clearTimeout(timer);
      }
      if ('closed' in chosen) {
        log.debug({ reason: chosen.closed }, 'NBD negotiation ended');
        io.socket.end(() => io.socket.destroy());
        return;
      }
      if (io.socket.destroyed || this.stopping) {
        await chosen.release();
        io.socket.destroy();
        return;
      }
      connection.socket = io.socket; // the TLS socket after STARTTLS
      const transmission = new Transmission(
        io.socket,
        io.reader,
        chosen,
        log,
        this.options.limits ?? DEFAULT_TRANSMISSION_LIMITS,
      );
      connection.transmission = transmission;
      log.info({ export: chosen.name, size: chosen.size, tcp }, 'NBD client attached');
      transmission.start();
      await transmission.done;
      log.info({ export: chosen.name }, 'NBD client detached');
    } finally {
      this.connections.delete(connection);
    }
  }
}

/** A socket file left by a previous run is removed; anything else at the path is refused. */
async function removeStaleSocket(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `NBD socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a unix socket: give a shorter one with --nbd-socket`,
    );
  }
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) {
    throw new TidelineError(
      'CONFLICT',
      `${path} exists and is not a socket: remove it or give another path with --nbd-socket`,
    );
  }
  await unlink(path);
}

function listen(server: Server, where: string | ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      const at = typeof where === 'string' ? where : `${where.host}:${where.port}`;
      reject(new TidelineError('UNAVAILABLE', `Cannot serve NBD on ${at}: ${errnoMessage(err)}`));
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (typeof where !== 'string') {
      server.listen(where.port, where.host, done);
      return;
    }
    // Created 0600, never wider for a moment: bind(2) runs within listen(), synchronously,
    // so the umask covers exactly the socket (a group is granted afterwards, chown first).
    const umask = process.umask(0o177);
    try {
      server.listen(where, done);
    } finally {
      process.umask(umask);
    }
  });
}
