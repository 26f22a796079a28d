/**
 * Connections to the control port that never authenticate (raw TCP, and TLS that never sends
 * its HTTP upgrade) are bounded: the agent keeps at most a few per source and drops the
 * oldest, so 400 of them cost it a handful of descriptors, and the console still gets in.
 * (Before issue 12 every one of them was held until its timeout.)
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  startAgent,
  type RunningAgent,
} from '../helpers/agents';
import { sleep } from '../helpers/replication-sites';

describe('a flood of unauthenticated connections on the control port', { timeout: 60_000 }, () => {
  let agent: RunningAgent;
  let creds: Awaited<ReturnType<typeof initAgent>>;
  const sockets: Socket[] = [];

  before(async () => {
    creds = await initAgent({ site: 'Flooded', args: ['--sim-disk-mib', '8'] });
    agent = await startAgent({ dataDir: creds.dataDir });
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await cleanupAgents();
  });

  const descriptors = async (): Promise<number> =>
    (await readdir(`/proc/${agent.process.pid}/fd`)).length;

  it('holds a bounded number of them and still lets the console in', async () => {
    const before = await descriptors();
    for (let i = 0; i < 400; i += 1) {
      const tcp = connectTcp({ host: '127.0.0.1', port: agent.port, localAddress: '127.0.0.3' });
      tcp.on('error', () => undefined);
      // Half of them complete TLS, then say nothing.
      const socket =
        i % 2 === 0
          ? tcp
          : connectTls({ socket: tcp, rejectUnauthorized: false }).on('error', () => undefined);
      sockets.push(socket);
      if (i % 50 === 49) await sleep(50);
    }
    await sleep(1_000);
    const held = (await descriptors()) - before;
    process.stdout.write(`# 400 idle connections: the agent holds ${held} more descriptors\n`);
    assert.ok(held <= 40, `${held} descriptors held for 400 idle connections`);
    const client = await connectRaw(agent.url, {
      token: creds.token,
      fingerprint: creds.fingerprint,
    });
    await client.hello();
    await client.close();
  });
});
