import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, describe, it } from 'node:test';
import { FingerprintSchema } from '../../app/protocol';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  makeTempDir,
  runAgentCli,
  startAgent,
} from '../helpers/agents';

after(cleanupAgents);

/** Every file under dir with its size, mode, mtime and content hash-ish (content for small files). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      const info = await stat(path);
      if (entry.isDirectory()) {
        out[`${relative(dir, path)}/`] = `${info.mode}`;
        await walk(path);
      } else {
        const content = info.size < 100_000 ? await readFile(path, 'utf8') : '';
        out[relative(dir, path)] = `${info.size} ${info.mode} ${info.mtimeMs} ${content}`;
      }
    }
  };
  await walk(dir);
  return out;
}

function peerFingerprint(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error('no certificate'));
      else resolve(cert);
    });
    socket.on('error', reject);
  });
}

describe('tideline-agent init', () => {
  it('prints exactly the token and the fingerprint of the certificate it then serves', async () => {
    const dataDir = join(await makeTempDir(), 'hq');
    const result = await runAgentCli(['init', '--data-dir', dataDir, '--site', 'Headquarters']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, result.stdout);
    const token = /^token: ([A-Za-z0-9_-]{43})$/.exec(lines[0] ?? '')?.[1];
    const fingerprint = /^fingerprint: (\S+)$/.exec(lines[1] ?? '')?.[1];
    assert.ok(token !== undefined, lines[0]);
    assert.ok(FingerprintSchema.safeParse(fingerprint).success, lines[1]);

    // Only a hash of the token is on disk; the key is private.
    const files = await snapshot(dataDir);
    for (const [name, value] of Object.entries(files))
      assert.ok(!value.includes(token), `token in ${name}`);
    assert.equal((await stat(join(dataDir, 'tls', 'key.pem'))).mode & 0o077, 0);
    assert.equal((await stat(join(dataDir, 'config.json'))).mode & 0o077, 0);

    const cert = new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem')));
    assert.equal(cert.fingerprint256, fingerprint);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    assert.ok((cert.subjectAltName ?? '').includes(`DNS:${hostname().toLowerCase()}`));
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');

    const agent = await startAgent({ dataDir });
    assert.equal(agent.fingerprint, fingerprint);
    assert.equal(
      (await peerFingerprint(agent.port)).fingerprint256,
      fingerprint,
      'served on the wire',
    );
    const client = await connectRaw(agent.url, { token, fingerprint });
    const hello = await client.hello();
    assert.equal((hello['agent'] as Record<string, unknown>)['fingerprint'], fingerprint);
    await client.close();
    assert.equal(await agent.stop(), 0);
    assert.ok(!agent.logs().includes(token), 'the token is never logged');
    assert.ok(!(await readFile(join(dataDir, 'logs', 'current.log'), 'utf8')).includes(token));
  });

  it('refuses an initialized directory with exit 2, touches nothing, and the first token keeps working', async () => {
    const first = await initAgent({ site: 'Headquarters' });
    const before = await snapshot(first.dataDir);
    const again = await runAgentCli(['init', '--data-dir', first.dataDir, '--site', 'Other']);
    assert.equal(again.code, 2);
    assert.equal(again.stdout, '');
    assert.match(
      again.stderr,
      /is already initialized \(site "Headquarters", agent [0-9a-f-]{36}\); use a new directory or delete it to start over/,
    );
    assert.deepEqual(await snapshot(first.dataDir), before);

    const agent = await startAgent({ dataDir: first.dataDir });
    const client = await connectRaw(agent.url, {
      token: first.token,
      fingerprint: first.fingerprint,
    });
    assert.equal(
      ((await client.hello())['agent'] as Record<string, unknown>)['siteName'],
      'Headquarters',
    );
    await client.close();
    assert.equal(await agent.stop(), 0);
  });

  it('lets exactly one of two simultaneous inits of a directory win', async () => {
    const dataDir = join(await makeTempDir(), 'race');
    const args = ['init', '--data-dir', dataDir, '--site', 'Race'];
    const results = await Promise.all([runAgentCli(args), runAgentCli(args)]);
    const winners = results.filter((r) => r.code === 0);
    assert.equal(winners.length, 1, results.map((r) => r.stderr).join('\n'));
    const loser = results.find((r) => r.code !== 0);
    assert.ok(loser !== undefined && [1, 2].includes(loser.code ?? -1));
    assert.match(loser.stderr, /already initialized|is in use by/);
    const token = /^token: (\S+)$/m.exec(winners[0]?.stdout ?? '')?.[1] ?? '';
    const agent = await startAgent({ dataDir });
    const client = await connectRaw(agent.url, { token, fingerprint: agent.fingerprint });
    await client.hello();
    await client.close();
    assert.equal(await agent.stop(), 0);
  });

  it('refuses a non-empty directory that is not a data directory, and removes nothing', async () => {
    const dir = await makeTempDir();
    await writeFile(join(dir, 'precious.txt'), 'keep me');
    const result = await runAgentCli(['init', '--data-dir', dir, '--site', 'X']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not empty and is not an agent data directory/);
    assert.deepEqual(await readdir(dir), ['precious.txt']);
  });

  it('initializes an existing empty directory', async () => {
    const dir = join(await makeTempDir(), 'empty');
    await mkdir(dir);
    const a = await initAgent({ site: 'Branch', dataDir: dir });
    assert.equal(a.dataDir, dir);
  });

  it('answers bad usage with a clear message and exit 64', async () => {
    const dir = join(await makeTempDir(), 'd');
    const cases: [string[], RegExp][] = [
      [[], /Usage: tideline-agent <command>/],
      [['frobnicate'], /Unknown command "frobnicate"/],
      [['init', '--site', 'X'], /Missing --data-dir/],
      [['init', '--data-dir', dir], /Missing --site/],
      [['init', '--data-dir', dir, '--site', '   '], /--site must be 1–80 characters/],
      [
        ['init', '--data-dir', dir, '--site', 'X', '--hypervisor', 'vmware'],
        /--hypervisor must be one of: sim/,
      ],
      [['init', '--data-dir', dir, '--site', 'X', '--bogus'], /Unknown option '--bogus'/],
      [
        ['init', '--data-dir', dir, '--site', 'X', '--sim-vms', '0'],
        /--sim-vms must be .* 1 and 64/,
      ],
      [['init', '--data-dir', dir, '--site', 'X', '--sim-vms', '2.5'], /--sim-vms must be/],
      [['run', '--data-dir', dir, '--listen', 'nope'], /--listen must be HOST:PORT/],
      [['run', '--data-dir', dir, '--listen', '127.0.0.1:70000'], /--listen must be HOST:PORT/],
      [['run', '--data-dir', dir, '--log-level', 'loud'], /--log-level must be one of/],
    ];
    for (const [args, message] of cases) {
      const result = await runAgentCli(args);
      assert.equal(result.code, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
    await assert.rejects(stat(dir), { code: 'ENOENT' }, 'bad usage creates nothing');
  });

  it('has --help for the tool and each command, and --version', async () => {
    const main = await runAgentCli(['--help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /init .*\n.*run /s);
    const init = await runAgentCli(['init', '--help']);
    assert.equal(init.code, 0);
    assert.match(init.stdout, /--data-dir DIR[\s\S]*--site NAME[\s\S]*--hypervisor/);
    const run = await runAgentCli(['run', '-h']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /--listen HOST:PORT/);
    const version = await runAgentCli(['--version']);
    assert.match(version.stdout, /^tideline-agent \d+\.\d+\.\d+\n$/);
  });
});

describe('tideline-agent run', () => {
  it('refuses a directory that was never initialized, without creating anything', async () => {
    const dir = join(await makeTempDir(), 'never');
    const result = await runAgentCli(['run', '--data-dir', dir, '--listen', '127.0.0.1:0']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /is not an initialized agent data directory .*run "tideline-agent init/,
    );
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });

  it('reports a port in use clearly and exits 1', async () => {
    const a = await initAgent({ site: 'Busy' });
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address === 'object');
    const result = await runAgentCli([
      'run',
      '--data-dir',
      a.dataDir,
      '--listen',
      `127.0.0.1:${address.port}`,
    ]);
    blocker.close();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    assert.ok(result.stdout.includes('Cannot listen on'), 'and in the log');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops cleanly on ${signal}: closes consoles with 1001, logs, exits 0`, async () => {
      const a = await initAgent({ site: 'Stopper' });
      const agent = await startAgent({ dataDir: a.dataDir });
      const client = await connectRaw(agent.url, { token: a.token, fingerprint: a.fingerprint });
      await client.hello();
      const code = await agent.stop(signal);
      assert.equal(code, 0, agent.logs());
      const closed = await client.closed;
      assert.equal(closed.code, 1001);
      assert.match(closed.reason, /shutting down/);
      const msgs = agent.logLines().map((l) => l.msg);
      assert.ok(msgs.includes('stopping') && msgs.includes('stopped'), msgs.join(','));
      const file = await readFile(join(a.dataDir, 'logs', 'current.log'), 'utf8');
      const fileMsgs = file
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.equal(fileMsgs.at(-1), 'stopped', 'the log file has the last line too');
      assert.ok(fileMsgs.includes('listening') && fileMsgs.includes('stopping'));
    });
  }
});
