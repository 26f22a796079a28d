/**
 * A flood of unauthenticated connections on the replication port (from 127.0.0.2, another
 * source than the sites') must not keep paired sites apart, nor fill the log: a restarted
 * peer reconnects at once, and the refusals are logged once per source and summarised.
 * (Before issue 12: 32 idle TLS sockets filled the shared handshake pool for 10 s each, the
 * restarted peer stayed out for the whole flood, and the log grew by thousands of lines.)
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createSelfSignedIdentity } from '../../agent/security/certificate';
import { cleanupAgents } from '../helpers/agents';
import {
  pairedSites,
  sleep,
  startSite,
  stopSite,
  untilLinked,
  type Site,
} from '../helpers/replication-sites';

const FLOOD_SOURCE = '127.0.0.2';

interface Flood {
  readonly opened: () => number;
  stop(): void;
}

/**
 * Keeps `slots` connections of each kind open against `address`, reopening each one 200 ms
 * after it closes: TLS with a certificate nobody pinned, TLS without one, and raw TCP that
 * never starts TLS. None ever sends a frame.
 */
async function flood(address: string, slots: number): Promise<Flood> {
  const [host, portText] = address.split(':') as [string, string];
  const port = Number(portText);
  const stranger = await createSelfSignedIdentity({ commonName: 'stranger', altNames: [] });
  let stopped = false;
  let opened = 0;
  const sockets = new Set<Socket>();
  const tcp = (): Socket => {
    const socket = connectTcp({ host, port, localAddress: FLOOD_SOURCE });
    socket.on('error', () => undefined);
    return socket;
  };
  const kinds: (() => Socket)[] = [
    () =>
      connectTls({
        socket: tcp(),
        key: stranger.keyPem,
        cert: stranger.certPem,
        rejectUnauthorized: false,
      }),
    () => connectTls({ socket: tcp(), rejectUnauthorized: false }),
    tcp,
  ];
  const open = (kind: () => Socket): void => {
    if (stopped) return;
    const socket = kind();
    opened += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      setTimeout(() => open(kind), 200).unref();
    });
  };
  for (const kind of kinds) for (let i = 0; i < slots; i += 1) open(kind);
  return {
    opened: () => opened,
    stop: () => {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function logSize(site: Site): Promise<number> {
  return (await stat(join(site.creds.dataDir, 'logs', 'current.log'))).size;
}

describe('a connection flood on the replication port', { timeout: 120_000 }, () => {
  let hq: Site;
  let dr: Site;

  before(async () => {
    [hq, dr] = await pairedSites();
  });

  after(cleanupAgents);

  it('lets a restarted peer reconnect at once and logs a summary, not every refusal', async () => {
    // The agent with the smaller id dials: the other one's listener is what the flood hits.
    const dialer = hq.agentId < dr.agentId ? hq : dr;
    const acceptor = dialer === hq ? dr : hq;
    const attack = await flood(acceptor.agent.replicationAddress, 32);
    try {
      await sleep(3_000); // the pools are full and churning
      const logBefore = await logSize(acceptor);
      await stopSite(dialer);
      const restarted = Date.now();
      await startSite(dialer);
      await untilLinked(dialer, true, 10_000);
      await untilLinked(acceptor, true, 10_000);
      const reconnectMs = Date.now() - restarted;
      process.stdout.write(`# reconnected ${reconnectMs} ms after the restart, under the flood\n`);
      await sleep(5_000); // more of the flood, now with the link up
      // Since the flood began: the first refusal of each kind, nothing more (the summaries come
      // at the end of the minute; the unit test of RefusalLog checks them).
      const refusals = acceptor.agent.logLines().filter((l) => l['source'] === FLOOD_SOURCE);
      const grown = (await logSize(acceptor)) - logBefore;
      process.stdout.write(
        `# ${attack.opened()} flood connections; ${refusals.length} log lines about them, log +${grown} bytes\n`,
      );
      assert.ok(attack.opened() > 300, `the flood went on (${attack.opened()} connections)`);
      assert.ok(refusals.length >= 1, 'the flood was logged');
      assert.ok(refusals.length <= 8, `refusals are rate-limited: ${refusals.length} lines`);
      assert.ok(grown < 64 * 1024, `the log grew by ${grown} bytes`);
    } finally {
      attack.stop();
    }
  });
});
