import type { Socket } from 'node:net';
import { sourceKey } from './source-key';

export interface HandshakePoolLimits {
  /** Sockets not yet authenticated, in all. */
  readonly max: number;
  /** … and from one source (an IPv4 address, an IPv6 /64). */
  readonly maxPerSource: number;
}

/**
 * Sockets that have connected but not yet authenticated (TLS handshake, HTTP upgrade, first
 * frame). Before authentication nobody is known, so the pool is bounded by dropping the
 * OLDEST socket (of the same source first) rather than refusing the newest: a flood then
 * churns itself, while a real client, whose handshake takes a round trip or two, gets
 * through, and no stranger can hold the door shut by being first.
 */
export class HandshakePool {
  /** By "address:port", oldest first. */
  private readonly sockets = new Map<
    string,
    { readonly socket: Socket; readonly source: string }
  >();

  constructor(
    private readonly limits: HandshakePoolLimits,
    private readonly onEvict: (source: string) => void,
  ) {}

  /** A new connection: counted until settle() or its close. */
  add(socket: Socket): void {
    const source = sourceKey(socket.remoteAddress);
    let fromSource = 0;
    let oldestOfSource: Socket | undefined;
    for (const entry of this.sockets.values()) {
      if (entry.source !== source) continue;
      fromSource += 1;
      oldestOfSource ??= entry.socket;
    }
    if (fromSource >= this.limits.maxPerSource) this.evict(oldestOfSource, source);
    else if (this.sockets.size >= this.limits.max) {
      const oldest = this.sockets.values().next().value;
      this.evict(oldest?.socket, oldest?.source ?? source);
    }
    const key = socketKey(socket);
    this.sockets.set(key, { socket, source });
    socket.once('close', () => {
      if (this.sockets.get(key)?.socket === socket) this.sockets.delete(key);
    });
  }

  /** The socket (or the TLS socket over it) authenticated, or moved on to other limits. */
  settle(socket: {
    readonly remoteAddress?: string | undefined;
    readonly remotePort?: number | undefined;
  }): void {
    this.sockets.delete(socketKey(socket));
  }

  get size(): number {
    return this.sockets.size;
  }

  private evict(socket: Socket | undefined, source: string): void {
    if (socket === undefined) return;
    this.sockets.delete(socketKey(socket));
    socket.destroy();
    this.onEvict(source);
  }
}

function socketKey(socket: {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}): string {
  return `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
}
