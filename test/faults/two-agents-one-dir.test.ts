/**
 * Two agents on one data directory: the second `run` (or an `init` or `export-disk`) exits 2
 * at once, names the holder, and changes nothing: no file of the directory, not the running
 * agent's NBD socket, not its log. A holder killed with SIGKILL leaves no stale lock.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { DataDirLockedError } from '../../agent/config/data-dir-lock';
import { Daemon } from '../../agent/daemon';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  runAgentCli,
  startAgent,
  type InitializedAgent,
  type RunningAgent,
} from '../helpers/agents';

after(cleanupAgents);

/** Every file of the directory with its inode, size and mtime (log files by name only). */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      if (path.includes('/logs/')) {
        out.set(path, 'a log file'); // the running agent's own: only that no file is added
        continue;
      }
      const info = await stat(path);
      out.set(path, `${info.ino} ${info.size} ${info.mtimeMs}`);
    }
  };
  await walk(root);
  return out;
}

/** Resolves true when the socket answers with the NBD greeting. */
function nbdGreets(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
    });
    socket.once('error', () => resolve(false));
  });
}

describe('two agents on one data directory', () => {
  let agent: InitializedAgent;
  let first: RunningAgent;

  before(async () => {
    agent = await initAgent({ site: 'Headquarters', args: ['--sim-disk-mib', '16'] });
    first = await startAgent({ dataDir: agent.dataDir });
  });

  test('a second run exits 2 naming the first, and changes nothing', async () => {
    const socket = join(agent.dataDir, 'nbd.sock');
    const before = await snapshot(agent.dataDir);
    const second = await runAgentCli(
      ['run', '--data-dir', agent.dataDir, '--listen', '127.0.0.1:0'],
      { timeoutMs: 15_000 },
    );
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`in use by process ${first.process.pid} `));
    assert.match(second.stderr, /"tideline-agent run --data-dir /);
    assert.deepEqual(await snapshot(agent.dataDir), before);
    assert.ok(await nbdGreets(socket), 'the first agent still serves NBD on its socket');
    const log = await readFile(join(agent.dataDir, 'logs', 'current.log'), 'utf8');
    const pids = new Set(
      log
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).pid),
    );
    assert.deepEqual([...pids], [first.process.pid], 'only the first agent wrote the log');
    const client = await connectRaw(first.url, {
      token: agent.token,
      fingerprint: agent.fingerprint,
    });
    await client.hello();
    await client.close();
  });

  test('init and export-disk are refused the same way', async () => {
    const before = await snapshot(agent.dataDir);
    const init = await runAgentCli(['init', '--data-dir', agent.dataDir, '--site', 'Again']);
    assert.equal(init.code, 2, init.stderr);
    const exported = await runAgentCli([
      'export-disk',
      '--data-dir',
      agent.dataDir,
      '--vpg',
      '00000000-0000-4000-8000-000000000000',
      '--disk',
      'd',
      '--checkpoint',
      'latest',
      '--out',
      join(agent.dataDir, '..', 'out.raw'),
    ]);
    assert.equal(exported.code, 2, exported.stderr);
    assert.match(exported.stderr, new RegExp(`in use by process ${first.process.pid} `));
    assert.deepEqual(await snapshot(agent.dataDir), before);
  });

  test('an in-process daemon is refused before it touches anything', async () => {
    const daemon = new Daemon({
      dataDir: agent.dataDir,
      listen: { host: '127.0.0.1', port: 0 },
      replicationListen: { host: '127.0.0.1', port: 0 },
      keepaliveMs: 30_000,
      log: pino({ level: 'silent' }),
    });
    await assert.rejects(daemon.start(), DataDirLockedError);
    await daemon.stop();
    assert.ok(await nbdGreets(join(agent.dataDir, 'nbd.sock')));
  });

  test('a holder killed with SIGKILL leaves no stale lock', async () => {
    first.process.kill('SIGKILL');
    await first.exited;
    const next = await startAgent({ dataDir: agent.dataDir });
    assert.ok(await nbdGreets(join(agent.dataDir, 'nbd.sock')));
    assert.equal(await next.stop(), 0);
  });
});
