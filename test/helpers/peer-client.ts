/**
 * A raw client of an agent's replication listener for tests: mutual TLS with any key and
 * certificate (a paired agent's, an unpaired one's, none), frames written and read by hand
 * with agent/peer's codec — to check what the listener refuses, and how.
 *
 *   const peer = await connectPeer(agent.replicationAddress, { keyPem, certPem });
 *   peer.sendJson(FrameType.HELLO, { min: 1, max: 1, agentId, siteId, siteName, address });
 *   const refused = await peer.refused();      // { reason, code, message }
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { FrameDecoder } from '../../agent/peer/frame-decoder';
import { RefusedSchema, type Refused } from '../../agent/peer/messages';
import {
  FrameType,
  MAX_FRAME_PAYLOAD,
  encodeFrame,
  type Frame,
  type FrameTypeCode,
} from '../../agent/peer/wire';

export interface PeerClient {
  readonly socket: TLSSocket;
  /** The server certificate's fingerprint. */
  readonly fingerprint: string;
  send(type: FrameTypeCode, payload?: Buffer): void;
  sendJson(type: FrameTypeCode, value: unknown): void;
  /** Writes raw bytes (e.g. a bad header). */
  write(bytes: Buffer): void;
  /** The next frame (default timeout 10 s); rejects if the connection closes first. */
  nextFrame(timeoutMs?: number): Promise<Frame>;
  /** Reads frames until a REFUSED one, and returns it parsed. */
  refused(timeoutMs?: number): Promise<Refused>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

export interface KeyPair {
  readonly keyPem: string;
  readonly certPem: string;
}

/** An agent data directory's key and certificate. */
export async function agentKeyPair(dataDir: string): Promise<KeyPair> {
  const [keyPem, certPem] = await Promise.all([
    readFile(join(dataDir, 'tls', 'key.pem'), 'utf8'),
    readFile(join(dataDir, 'tls', 'cert.pem'), 'utf8'),
  ]);
  return { keyPem, certPem };
}

/** The agent id in a data directory's config.json. */
export async function agentIdOf(dataDir: string): Promise<string> {
  const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as {
    agentId: string;
  };
  return config.agentId;
}

export async function connectPeer(address: string, keys?: KeyPair): Promise<PeerClient> {
  const at = address.lastIndexOf(':');
  const socket = connect({
    host: address.slice(0, at).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(at + 1)),
    ...(keys !== undefined && { key: keys.keyPem, cert: keys.certPem }),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  const decoder = new FrameDecoder(MAX_FRAME_PAYLOAD);
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
      frames.push(frame);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      ended = true;
      for (const wake of waiters.splice(0)) wake();
      resolve();
    });
  });
  const nextFrame = async (timeoutMs = 10_000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = frames.shift();
      if (frame !== undefined) return frame;
      if (ended) throw new Error('connection closed before a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return {
    socket,
    fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '',
    send: (type, payload) => socket.write(encodeFrame(type, payload)),
    sendJson: (type, value) => socket.write(encodeFrame(type, Buffer.from(JSON.stringify(value)))),
    write: (bytes) => socket.write(bytes),
    nextFrame,
    refused: async (timeoutMs = 10_000) => {
      for (;;) {
        const frame = await nextFrame(timeoutMs);
        if (frame.type === FrameType.REFUSED) {
          return RefusedSchema.parse(JSON.parse(frame.payload.toString('utf8')));
        }
      }
    },
    closed,
    close: () => socket.destroy(),
  };
}
