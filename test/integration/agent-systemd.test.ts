/**
 * The agent as a systemd service (issue 13): the notify protocol of a Type=notify unit, spoken
 * through systemd's own systemd-notify to a notify socket the test listens on (READY once the
 * agent serves, WATCHDOG at half WatchdogSec, STOPPING on SIGTERM), and the shipped unit, as
 * the deployer fills it in, passing `systemd-analyze verify` without a warning.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { renderAgentUnit } from '../../main/services/deploy/agent-unit';
import {
  AGENT_BIN,
  REPO_ROOT,
  cleanupAgents,
  initAgent,
  makeTempDir,
  reservePorts,
  startAgent,
} from '../helpers/agents';
import { listenNotifySocket, type NotifySocket } from '../helpers/notify-socket';
import { have } from '../helpers/ssh-host';

const run = promisify(execFile);

const notifyTools = (await have('systemd-notify')) && (await have('python3'));
/** Why a real systemd cannot run the agent here, or undefined where it can. */
async function noSystemd(): Promise<string | undefined> {
  const init = (await readFile('/proc/1/comm', 'utf8').catch(() => '')).trim();
  if (init !== 'systemd') {
    return `systemd is not PID 1 on this machine (PID 1 is "${init || 'unknown'}"): the service step is covered by the systemctl stand-in of deploy-ssh.test.ts`;
  }
  if (process.getuid?.() !== 0) return 'needs root to start a system service';
  return undefined;
}
const systemdSkip = await noSystemd();
if (systemdSkip !== undefined) process.stdout.write(`# real systemd: skipped, ${systemdSkip}\n`);
const analyze = await have('systemd-analyze');

describe('systemd: the notify protocol and the unit', { timeout: 120_000 }, () => {
  const sockets: NotifySocket[] = [];
  after(async () => {
    await cleanupAgents();
    for (const socket of sockets) await socket.close();
  });

  it(
    'READY once serving, WATCHDOG at half the period, STOPPING on SIGTERM and then nothing',
    { skip: !notifyTools && 'needs systemd-notify and python3' },
    async () => {
      const socket = await listenNotifySocket();
      sockets.push(socket);
      const creds = await initAgent({ site: 'HQ' });
      const agent = await startAgent({
        dataDir: creds.dataDir,
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '400000' },
      });
      const ready = await socket.waitFor('READY=1');
      assert.match(ready.data, /^STATUS=serving on wss:\/\/127\.0\.0\.1:\d+/m);
      // Sent by systemd-notify, a child of the agent: on the agent's behalf where it may (as
      // root), else as itself (the unit's NotifyAccess=all admits its cgroup).
      assert.ok(ready.pid !== null && ready.pid > 0, 'the sender is known to the manager');
      // Each message is followed by a barrier: systemd-notify waited until it was read.
      assert.ok(socket.barriers() >= 1, 'systemd-notify waits for the manager');
      const listening = await agent.waitForLog((l) => l.msg === 'listening');
      assert.ok(
        ready.at >= Number(new Date(String(listening['time']))) - 5,
        'READY after listening',
      );

      await new Promise((r) => setTimeout(r, 1_500));
      const pings = socket.messages.filter((m) => m.data === 'WATCHDOG=1');
      assert.ok(pings.length >= 4, `a ping every 200 ms (${pings.length} in 1.5 s)`);

      assert.equal(await agent.stop('SIGTERM'), 0);
      const stopping = await socket.waitFor('STOPPING=1', 5_000);
      const index = socket.messages.indexOf(stopping);
      assert.deepEqual(
        socket.messages.slice(index + 1).map((m) => m.data),
        [],
        'nothing after STOPPING',
      );
    },
  );

  it(
    'no watchdog pings when WATCHDOG_PID names another process',
    { skip: !notifyTools && 'needs systemd-notify and python3' },
    async () => {
      const socket = await listenNotifySocket();
      sockets.push(socket);
      const creds = await initAgent({ site: 'HQ' });
      const agent = await startAgent({
        dataDir: creds.dataDir,
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' },
      });
      await socket.waitFor('READY=1');
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(socket.messages.filter((m) => m.data === 'WATCHDOG=1').length, 0);
      assert.equal(await agent.stop('SIGTERM'), 0);
    },
  );

  it(
    'runs under a real systemd as a Type=notify service: active once READY, stopped cleanly',
    { skip: systemdSkip },
    async () => {
      const creds = await initAgent({ site: 'Systemd' });
      const unit = `tideline-test-${process.pid}`;
      const port = await reservePorts(2);
      // systemd-run returns once a Type=notify unit is active: READY=1 arrived.
      await run('systemd-run', [
        `--unit=${unit}`,
        '--property=Type=notify',
        '--property=NotifyAccess=all',
        '--property=WatchdogSec=30',
        '--property=TimeoutStartSec=60',
        process.execPath,
        AGENT_BIN,
        'run',
        '--data-dir',
        creds.dataDir,
        '--listen',
        `127.0.0.1:${port}`,
      ]);
      try {
        const { stdout } = await run('systemctl', ['is-active', `${unit}.service`]);
        assert.equal(stdout.trim(), 'active');
      } finally {
        await run('systemctl', ['stop', `${unit}.service`]);
      }
      const after = await run('systemctl', ['is-active', `${unit}.service`]).catch(
        (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
      );
      assert.match(after.stdout.trim(), /inactive|unknown/);
    },
  );

  it(
    'the unit, filled in as the deployer does, passes systemd-analyze verify with no warning',
    { skip: !analyze && 'needs systemd-analyze (Debian package systemd)' },
    async () => {
      const dir = await makeTempDir('tideline-unit-');
      const installDir = join(dir, 'opt', 'tideline', 'current');
      await mkdir(join(installDir, 'bin'), { recursive: true });
      await writeFile(join(installDir, 'bin', 'tideline-agent'), '#!/bin/sh\n');
      await chmod(join(installDir, 'bin', 'tideline-agent'), 0o755);
      const template = await readFile(
        join(REPO_ROOT, 'resources', 'systemd', 'tideline-agent.service'),
        'utf8',
      );
      const unit = renderAgentUnit(template, {
        installDir,
        dataDir: join(dir, 'var', 'lib', 'tideline'),
        listen: '0.0.0.0:7443',
        groups: ['libvirt', 'libvirt-qemu'],
      });
      for (const directive of [
        'Type=notify',
        'User=tideline',
        'ProtectSystem=strict',
        `ReadWritePaths=${join(dir, 'var', 'lib', 'tideline')}`,
        'ProtectHome=true',
        'PrivateTmp=true',
        'NoNewPrivileges=true',
        'LimitNOFILE=65536',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
        'SupplementaryGroups=libvirt libvirt-qemu',
      ]) {
        assert.ok(unit.split('\n').includes(directive), `the unit has ${directive}`);
      }
      const path = join(dir, 'tideline-agent.service');
      await writeFile(path, unit);
      const { stdout, stderr } = await run('systemd-analyze', ['verify', path]);
      assert.equal(`${stdout}${stderr}`, '', 'no warning');

      // The check bites: a misspelt directive is reported.
      await writeFile(path, unit.replace('ProtectSystem=strict', 'ProtectSystm=strict'));
      const bad = await run('systemd-analyze', ['verify', path]);
      assert.match(bad.stderr, /Unknown key 'ProtectSystm'/);
    },
  );
});
