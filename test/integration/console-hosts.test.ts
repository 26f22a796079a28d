/**
 * Hosts in the console core (issue 13): add a host, confirm its SSH host key, deploy through
 * the ConsoleApi, and the console holds the agent it installed (connected, pinned, with its
 * VMs) without anyone handling a token; undeploy takes it away again. Against the real sshd
 * test host of test/helpers/ssh-host.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import type { HostEntryView } from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  REPO_ROOT,
  cleanupAgents,
  ensureAgentBuilt,
  makeTempDir,
  reservePorts,
} from '../helpers/agents';
import { sshHostUnavailable, startSshHost, type SshHost } from '../helpers/ssh-host';

const run = promisify(execFile);
const unavailable = await sshHostUnavailable();

describe('hosts: deploy from the console', { timeout: 600_000, skip: unavailable }, () => {
  let host: SshHost;
  let core: ConsoleCore;
  let settingsDir: string;
  let hostId: string;
  const seen: HostEntryView[][] = [];

  before(async () => {
    const release = await makeTempDir('tideline-release-');
    await ensureAgentBuilt(); // once, under the helpers' lock: packaging only copies it
    await run(
      process.execPath,
      ['scripts/package-agent.mjs', '--arch', 'x64', '--out', release, '--no-build'],
      {
        cwd: REPO_ROOT,
        maxBuffer: 16 * 2 ** 20,
      },
    );
    host = await startSshHost();
    settingsDir = await makeTempDir('tl-console-hosts-');
    core = new ConsoleCore({
      settings: openNodeSettings(settingsDir),
      mode: 'browser',
      backoff: { initialMs: 100, maxMs: 400 },
      coalesceMs: 10,
      deploy: {
        packagesDir: release,
        unitTemplatePath: join(REPO_ROOT, 'resources', 'systemd', 'tideline-agent.service'),
      },
    });
    core.events.on('hosts.changed', ({ hosts }) => seen.push(hosts));
    core.start();
  });

  after(async () => {
    await core?.stop();
    await host?.stop();
    await cleanupAgents();
  });

  /** A ConsoleApi call as the transports make it (params already parsed). */
  const api = () =>
    new Proxy(core.handlers, {
      get: (handlers, name: string) => (params: unknown) =>
        (handlers as Record<string, (p: unknown, c: undefined) => Promise<unknown>>)[name]?.(
          params,
          undefined,
        ),
    }) as unknown as {
      [K in keyof typeof core.handlers]: (
        params: Parameters<(typeof core.handlers)[K]>[0],
      ) => Promise<Awaited<ReturnType<(typeof core.handlers)[K]>>>;
    };
  const credentials = () => ({ kind: 'password' as const, password: host.password });

  async function until(state: HostEntryView['state'], ms = 120_000): Promise<HostEntryView> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = (await api()['hosts.list'](undefined)).find((h) => h.hostId === hostId);
      if (found?.state === state) return found;
      assert.ok(Date.now() < deadline, `host ${state} (now ${JSON.stringify(found)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('a host is added, and nothing runs on it before its key is confirmed', async () => {
    const added = await api()['hosts.add']({
      address: '127.0.0.1',
      sshPort: host.port,
      user: host.user,
      site: 'Branch office',
      agentPort: await reservePorts(1),
      hypervisor: 'auto',
    });
    hostId = added.hostId;
    assert.equal(added.state, 'NotInstalled');
    await assert.rejects(
      api()['hosts.deploy']({ hostId, credentials: credentials() }),
      (err: unknown) => err instanceof TidelineError && err.code === 'HOST_KEY_UNKNOWN',
    );
    const offer = await api()['hosts.scanKey']({ hostId });
    assert.equal(offer.fingerprint, host.hostKeyFingerprint);
    assert.equal(offer.checkCommand, 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    assert.equal(
      (await api()['hosts.trustKey']({ hostId, fingerprint: offer.fingerprint })).hostKey,
      offer.fingerprint,
    );
    await assert.rejects(
      api()['hosts.trustKey']({ hostId, fingerprint: `SHA256:${'A'.repeat(43)}` }),
      (err: unknown) => err instanceof TidelineError && err.code === 'HOST_KEY_CHANGED',
    );
  });

  it('deploys: Installing with progress, then Installed, and the console holds the agent', async () => {
    const started = await api()['hosts.deploy']({ hostId, credentials: credentials() });
    assert.equal(started.state, 'Installing');
    const installed = await until('Installed');
    assert.equal(installed.agentVersion, '0.1.0');
    assert.ok(installed.agentKey, 'the console added the agent');
    const steps = new Set(seen.flat().flatMap((h) => (h.progress ? [h.progress.step] : [])));
    assert.ok(
      steps.has('Upload the package') && steps.has('Start the service'),
      [...steps].join(', '),
    );

    // Connected with the pinned fingerprint; its site and VMs in the estate.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const estate = await api()['estate.get'](undefined);
      const agent = estate.agents.find((a) => a.key === installed.agentKey);
      const vms = estate.vms.filter((v) => v.agentKey === installed.agentKey);
      if (agent?.state === 'connected' && vms.length > 0) {
        assert.equal(
          estate.sites.find((s) => s.siteId === agent.identity?.siteId)?.name,
          'Branch office',
        );
        break;
      }
      assert.ok(
        Date.now() < deadline,
        `the agent connected with its VMs: ${JSON.stringify(agent)}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    // The password was used for the operation only.
    const saved = await readFile(join(settingsDir, 'settings.json'), 'utf8');
    assert.ok(!saved.includes(host.password), 'no password in the settings');
  });

  it('a host with an agent cannot be removed: undeploy first', async () => {
    await assert.rejects(
      async () => api()['hosts.remove']({ hostId }),
      (err: unknown) => err instanceof TidelineError && err.code === 'CONFLICT',
    );
  });

  it('undeploys: the agent leaves the console, the host is NotInstalled and can be removed', async () => {
    const installed = await until('Installed');
    await api()['hosts.undeploy']({ hostId, credentials: credentials(), deleteData: true });
    await until('NotInstalled');
    const estate = await api()['estate.get'](undefined);
    assert.equal(
      estate.agents.find((a) => a.key === installed.agentKey),
      undefined,
    );
    assert.deepEqual(await api()['hosts.remove']({ hostId }), { removed: true });
    assert.deepEqual(await api()['hosts.list'](undefined), []);
  });
});
