import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { PairingTokenSchema } from '../../app/protocol';
import { cleanupAgents, connectRaw, initAgent, runAgentCli, startAgent } from '../helpers/agents';

after(cleanupAgents);

/** Whether a TCP port on 127.0.0.1 is free right now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Two consecutive free ports (a moment ago). */
async function freePair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isFree(port)) && (await isFree(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports');
}

describe('tideline-agent run: replication flags', () => {
  it('documents the flags and refuses bad values with exit status 64', async () => {
    const help = await runAgentCli(['run', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--replication-listen', '--advertise', '--pairing-token-ttl']) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    const { dataDir } = await initAgent({ site: 'Flags' });
    for (const [args, message] of [
      [['--replication-listen', 'nowhere'], /--replication-listen must be HOST:PORT/],
      [['--advertise', 'dr.example.net:0'], /--advertise must be HOST:PORT with a port of 1–65535/],
      [['--pairing-token-ttl', '0'], /--pairing-token-ttl must be a number of seconds/],
      [['--listen', '127.0.0.1:65535'], /leaves no port \+ 1 for replication/],
    ] as const) {
      const result = await runAgentCli(['run', '--data-dir', dataDir, ...args]);
      assert.equal(result.code, 64, result.stderr);
      assert.match(result.stderr, message);
    }
  });

  it('listens for replication on the control port + 1 and advertises what --advertise says', async () => {
    const creds = await initAgent({ site: 'Recovery DC' });
    const port = await freePair();
    const agent = await startAgent({
      dataDir: creds.dataDir,
      listen: `127.0.0.1:${port}`,
      args: ['--advertise', 'dr.example.net:17444'],
    });
    assert.equal(agent.port, port);
    assert.equal(agent.replicationPort, port + 1);
    assert.equal(agent.replicationAddress, 'dr.example.net:17444');
    const line = await agent.waitForLog((l) => l.msg === 'replication listening');
    assert.equal(line['port'], port + 1);
    const client = await connectRaw(agent.url, {
      token: creds.token,
      fingerprint: creds.fingerprint,
    });
    await client.hello();
    const token = PairingTokenSchema.parse(await client.result('site.pairingToken'));
    assert.equal(token.address, 'dr.example.net:17444');
    await client.close();
    assert.equal(await agent.stop(), 0);
  });

  it('refuses to start, saying why, when the replication port is taken', async () => {
    const creds = await initAgent({ site: 'Busy' });
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const taken = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await assert.rejects(
        startAgent({ dataDir: creds.dataDir, replicationListen: `127.0.0.1:${taken}` }),
        (err: unknown) =>
          err instanceof Error &&
          err.message.includes(`Cannot listen for replication on 127.0.0.1:${taken}: EADDRINUSE`),
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
