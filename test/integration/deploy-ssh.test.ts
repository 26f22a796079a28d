/**
 * The SSH deployer (issue 13) against a real OpenSSH sshd: a disposable host in private
 * namespaces with no Node, a sudo user, and systemctl replaced by the recorded stand-in
 * (test/helpers/ssh-host.ts). Deploy, upgrade to a second build, undeploy keeping or deleting
 * the data; and the refusals: an unknown or changed host key, a wrong password, an unreachable
 * host and a full disk, each with a clear error and nothing left half-installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import {
  HelloResultSchema,
  PROTOCOL_VERSION,
  PairingTokenSchema,
  PeerSchema,
} from '../../app/protocol';
import { loadAgentPackages, type AgentPackage } from '../../main/services/deploy/agent-package';
import {
  DEPLOY_STEPS,
  deployAgent,
  undeployAgent,
  upgradeAgent,
  type DeployOptions,
} from '../../main/services/deploy/deployer';
import { SshSession, type SshTarget } from '../../main/services/deploy/ssh-session';
import {
  REPO_ROOT,
  cleanupAgents,
  connectRaw,
  ensureAgentBuilt,
  makeTempDir,
  reservePorts,
} from '../helpers/agents';
import { call, launchSite, untilLinked, type Site } from '../helpers/replication-sites';
import { sshHostUnavailable, startSshHost, type SshHost } from '../helpers/ssh-host';

const run = promisify(execFile);
const unavailable = await sshHostUnavailable();
const UNIT_TEMPLATE = join(REPO_ROOT, 'resources', 'systemd', 'tideline-agent.service');

async function packages(version?: string): Promise<AgentPackage[]> {
  // Into a folder of its own: a test build never lands in release/.
  const dir = await makeTempDir('tideline-release-');
  // The agent bundle is built once, under the helpers' lock; packaging only copies it.
  await ensureAgentBuilt();
  const args = ['scripts/package-agent.mjs', '--arch', 'x64', '--out', dir, '--no-build'];
  if (version !== undefined) args.push('--version', version);
  await run(process.execPath, args, { cwd: REPO_ROOT, maxBuffer: 16 * 2 ** 20 });
  return loadAgentPackages(dir);
}

/** The host's login: its password (or its key), its host key pinned. */
function targetOf(host: SshHost, auth: 'password' | 'key' = 'password'): SshTarget {
  return {
    host: host.host,
    port: host.port,
    username: host.user,
    auth:
      auth === 'password'
        ? { kind: 'password', password: host.password }
        : { kind: 'key', privateKey: host.privateKey },
    hostKey: host.hostKeyFingerprint,
  };
}

function rejectsWith(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof TidelineError, `a TidelineError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('deploying agents over SSH', { timeout: 600_000, skip: unavailable }, () => {
  let host: SshHost;
  let first: AgentPackage[];
  let port: number;
  let target: SshTarget;
  let token: string;
  let fingerprint: string;
  let agentId: string;
  let peer: Site;

  before(async () => {
    first = await packages();
    host = await startSshHost();
    port = await reservePorts(2); // control and replication
    target = targetOf(host);
  });

  after(async () => {
    await host?.stop();
    await cleanupAgents();
  });

  const deployOptions = (over: Partial<DeployOptions> = {}): DeployOptions => ({
    target,
    site: 'Branch office',
    listen: `127.0.0.1:${port}`,
    hypervisor: 'auto',
    packages: first,
    unitTemplatePath: UNIT_TEMPLATE,
    ...over,
  });

  async function hello(): Promise<{ agentId: string; version: string }> {
    const client = await connectRaw(`wss://127.0.0.1:${port}/`, { token, fingerprint });
    try {
      return HelloResultSchema.parse(await client.hello()).agent;
    } finally {
      await client.close();
    }
  }

  it('an unknown host key is reported with its fingerprint and the command to check it', async () => {
    const { hostKey: _none, ...unpinned } = target;
    await assert.rejects(
      deployAgent(deployOptions({ target: unpinned })),
      rejectsWith('HOST_KEY_UNKNOWN', /ssh-keygen -lf \/etc\/ssh\/ssh_host_ed25519_key\.pub/),
    );
    try {
      await deployAgent(deployOptions({ target: unpinned }));
    } catch (err) {
      assert.equal((err as TidelineError).data?.['fingerprint'], host.hostKeyFingerprint);
    }
    assert.deepEqual(await host.systemctlCalls(), [], 'nothing ran on the host');
  });

  it('deploys to a host without Node: the service runs as its own user and answers', async () => {
    assert.equal(await host.sh('command -v node || echo none'), 'none\n');
    const steps: string[] = [];
    const deployed = await deployAgent(
      deployOptions({ onProgress: (p) => p.fraction === undefined && steps.push(p.step) }),
    );
    assert.deepEqual(steps, [...DEPLOY_STEPS], 'every step, in order');
    assert.equal(deployed.version, '0.1.0');
    assert.equal(deployed.hypervisor, 'sim');
    ({ token, fingerprint } = deployed);
    const agent = await hello();
    agentId = agent.agentId;
    assert.equal(agent.version, '0.1.0');

    const calls = (await host.systemctlCalls()).map((c) => `${c.argv.join(' ')} → ${c.code}`);
    assert.deepEqual(calls, [
      'daemon-reload → 0',
      'enable tideline-agent.service → 0',
      'start tideline-agent.service → 0',
    ]);
    const unit = await readFile(
      join(host.root, 'etc/systemd/system/tideline-agent.service'),
      'utf8',
    );
    assert.match(
      unit,
      /^ExecStart=\/opt\/tideline\/current\/bin\/tideline-agent run --data-dir \/var\/lib\/tideline --listen 127\.0\.0\.1:\d+$/m,
    );
    const user = await host.sh(
      'ps -o user= -p $(python3 -c \'import json;print(json.load(open("/run/systemctl-standin/tideline-agent.service.state"))["pid"])\')',
    );
    assert.equal(user.trim(), 'tideline', 'the agent runs as the tideline user');
    const data = await stat(join(host.root, 'var/lib/tideline/config.json'));
    assert.ok(data.isFile());
    assert.match(await host.sh('ls /tmp'), /^(?!.*tideline-deploy)/s, 'the upload is cleaned up');
  });

  it('a second deploy to the same host is refused: upgrade it instead', async () => {
    await assert.rejects(deployAgent(deployOptions()), rejectsWith('ALREADY_EXISTS', /upgrade it/));
  });

  it('pairs with another site', async () => {
    peer = await launchSite('Peer site');
    const client = await connectRaw(`wss://127.0.0.1:${port}/`, { token, fingerprint });
    try {
      await client.hello();
      const offer = PairingTokenSchema.parse(
        (await client.request('site.pairingToken', {})).result,
      );
      await call(peer, 'site.pair', {
        address: offer.address,
        token: offer.token,
        fingerprint: offer.fingerprint,
      });
    } finally {
      await client.close();
    }
    await untilLinked(peer, true);
  });

  it('a package of another protocol is refused, and the agent is left as it was', async () => {
    const [pkg] = await packages('0.2.0-test');
    assert.ok(pkg);
    const alien = { ...pkg, info: { ...pkg.info, protocolVersion: PROTOCOL_VERSION + 7 } };
    await assert.rejects(
      upgradeAgent({ target, packages: [alien] }),
      rejectsWith('PROTOCOL_VERSION', /speaks protocol \d+; this console speaks/),
    );
    assert.equal((await hello()).version, '0.1.0');
  });

  it('upgrades to a second build: same agent, pairing and data kept, the service restarted', async () => {
    const second = await packages('0.1.1-test');
    const pidBefore = await host.sh('cat /run/systemctl-standin/tideline-agent.service.state');
    const result = await upgradeAgent({ target, packages: second });
    assert.deepEqual(result, { from: '0.1.0', to: '0.1.1-test' });
    const version = JSON.parse(
      await readFile(join(host.root, 'opt/tideline/current/VERSION'), 'utf8'),
    ) as { version: string };
    assert.equal(version.version, '0.1.1-test');
    assert.notEqual(
      await host.sh('cat /run/systemctl-standin/tideline-agent.service.state'),
      pidBefore,
    );
    assert.equal((await hello()).agentId, agentId, 'the same agent, with its token and key');
    // The pairing survived: the peer's link comes back to the upgraded agent.
    await untilLinked(peer, true, 30_000);
    const client = await connectRaw(`wss://127.0.0.1:${port}/`, { token, fingerprint });
    try {
      await client.hello();
      const peers = PeerSchema.array().parse((await client.request('site.peers', {})).result);
      assert.equal(peers.length, 1);
      assert.equal(peers[0]?.link, 'connected');
    } finally {
      await client.close();
    }
    assert.deepEqual(
      await host.sh('ls /opt/tideline'),
      '0.1.1-test\ncurrent\n',
      'the old version is removed',
    );
  });

  it('undeploys: the service and program go, the data stays', async () => {
    await undeployAgent({ target, deleteData: false });
    assert.equal(
      (await host.sh('systemctl is-active tideline-agent.service || true')).trim(),
      'inactive',
    );
    await assert.rejects(stat(join(host.root, 'etc/systemd/system/tideline-agent.service')));
    await assert.rejects(stat(join(host.root, 'opt/tideline')));
    assert.ok((await stat(join(host.root, 'var/lib/tideline/config.json'))).isFile(), 'data kept');
    await assert.rejects(hello(), 'the agent is gone');
  });

  it('undeploys with the data: nothing of the agent is left', async () => {
    await undeployAgent({ target, deleteData: true });
    await assert.rejects(stat(join(host.root, 'var/lib/tideline')));
    assert.equal((await host.sh('getent passwd tideline || echo none')).trim(), 'none');
  });

  it('logs in with a key held by an SSH agent', async () => {
    const dir = await makeTempDir('tl-ssh-agent-');
    const socket = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !(await stat(socket).catch(() => undefined)); i += 1) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await writeFile(join(dir, 'key'), host.privateKey, { mode: 0o600 });
      await run('ssh-add', [join(dir, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const session = await SshSession.open({ ...target, auth: { kind: 'agent', socket } });
      try {
        assert.equal((await session.exec('id -un')).stdout.trim(), host.user);
      } finally {
        session.close();
      }
    } finally {
      agent.kill();
    }
  });

  it('a wrong password, an unreachable host and a changed host key: clear errors', async () => {
    await assert.rejects(
      deployAgent(
        deployOptions({ target: { ...target, auth: { kind: 'password', password: 'wrong' } } }),
      ),
      rejectsWith('UNAUTHORIZED', /refused the login of "deployer"/),
    );
    const closed = await reservePorts(1);
    await assert.rejects(
      deployAgent(deployOptions({ target: { ...target, port: closed } })),
      rejectsWith('UNAVAILABLE', /Cannot reach 127\.0\.0\.1:\d+ over SSH \(ECONNREFUSED\)/),
    );
    const rotated = await host.rotateHostKey();
    await assert.rejects(
      deployAgent(deployOptions()),
      rejectsWith(
        'HOST_KEY_CHANGED',
        new RegExp(`it was ${escape(host.hostKeyFingerprint)}, it is now ${escape(rotated)}`),
      ),
    );
  });
});

describe('deploying to a full disk', { timeout: 300_000, skip: unavailable }, () => {
  let host: SshHost;
  after(async () => {
    await host?.stop();
  });

  it('ends in a clear error and leaves nothing half-installed', async () => {
    const pkgs = await packages();
    host = await startSshHost({ optMiB: 48 });
    await assert.rejects(
      deployAgent({
        target: targetOf(host, 'key'),
        site: 'Full',
        listen: `127.0.0.1:${await reservePorts(1)}`,
        hypervisor: 'sim',
        packages: pkgs,
        unitTemplatePath: UNIT_TEMPLATE,
      }),
      rejectsWith('UNAUTHORIZED', /needs a password for sudo/),
    );
    await assert.rejects(
      deployAgent({
        target: targetOf(host),
        site: 'Full',
        listen: `127.0.0.1:${await reservePorts(1)}`,
        hypervisor: 'sim',
        packages: pkgs,
        unitTemplatePath: UNIT_TEMPLATE,
      }),
      rejectsWith('NO_SPACE', /too little free space in \/opt\/tideline .*Nothing was changed/),
    );
    assert.equal(await host.sh('ls -A /opt'), '');
    assert.equal((await host.sh('getent passwd tideline || echo none')).trim(), 'none');
    await assert.rejects(stat(join(host.root, 'var/lib/tideline')));
    await assert.rejects(stat(join(host.root, 'etc/systemd/system/tideline-agent.service')));
  });
});

describe('a deploy whose service does not start', { timeout: 300_000, skip: unavailable }, () => {
  let host: SshHost;
  let busy: Server | undefined;
  after(async () => {
    busy?.close();
    await host?.stop();
  });

  it('is undone: no unit, no program, no user, no data directory; the error says why', async () => {
    const pkgs = await packages();
    host = await startSshHost();
    // The agent's control port is taken: it exits at once, before READY.
    const taken = await reservePorts(1);
    busy = createServer();
    await new Promise<void>((resolve) => busy?.listen(taken, '127.0.0.1', resolve));
    await assert.rejects(
      deployAgent({
        target: targetOf(host),
        site: 'Busy',
        listen: `127.0.0.1:${taken}`,
        hypervisor: 'sim',
        packages: pkgs,
        unitTemplatePath: UNIT_TEMPLATE,
      }),
      rejectsWith(
        'INTERNAL_ERROR',
        /Starting the service failed on 127\.0\.0\.1: .*(in use|EADDRINUSE)/i,
      ),
    );
    const calls = (await host.systemctlCalls()).map((c) => c.argv.join(' '));
    assert.deepEqual(calls.slice(0, 3), [
      'daemon-reload',
      'enable tideline-agent.service',
      'start tideline-agent.service',
    ]);
    assert.ok(calls.includes('disable tideline-agent.service'), calls.join(', '));
    await assert.rejects(stat(join(host.root, 'etc/systemd/system/tideline-agent.service')));
    await assert.rejects(stat(join(host.root, 'opt/tideline')));
    assert.equal((await host.sh('getent passwd tideline || echo none')).trim(), 'none');
    await assert.rejects(stat(join(host.root, 'var/lib/tideline')));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
