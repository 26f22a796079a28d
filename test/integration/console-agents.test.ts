import assert from 'node:assert/strict';
import { isError } from '../helpers/console-call';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents, connectRaw, initAgent, makeTempDir, startAgent } from '../helpers/agents';
import { agentState, freePort, untilEstate } from '../unit/console-fake-agent';

function newCore(settingsDir: string): ConsoleCore {
  return new ConsoleCore({
    settings: openNodeSettings(settingsDir),
    mode: 'browser',
    backoff: { initialMs: 100, maxMs: 400 },
    coalesceMs: 10,
  });
}

after(cleanupAgents);

describe('console core with real agents', () => {
  it('adds an agent with the right token and fingerprint: connected, estate filled, saved as JSON', async () => {
    const creds = await initAgent({ site: 'Headquarters' });
    const agent = await startAgent({ dataDir: creds.dataDir });
    const dir = await makeTempDir('tl-console-');
    let core = newCore(dir);
    core.start();
    try {
      const info = await core.handlers['agents.probe']({ address: agent.address }, undefined);
      assert.equal(info.fingerprint, creds.fingerprint);
      const view = await core.handlers['agents.add'](
        { address: agent.address, token: creds.token, fingerprint: info.fingerprint },
        undefined,
      );
      assert.equal(view.state, 'connected');
      const snap = core.snapshot();
      assert.equal(snap.sites.length, 1);
      assert.equal(snap.sites[0]?.name, 'Headquarters');
      assert.deepEqual(snap.sites[0]?.agentKeys, [view.key]);
      assert.equal(snap.hosts.length, 1);
      assert.ok(snap.vms.length >= 4, `VMs: ${snap.vms.length}`);
      assert.ok(
        snap.vms.every((v) => v.siteId === view.identity?.siteId && v.agentKey === view.key),
      );

      const file = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as {
        schemaVersion: number;
        agents: { key: string; address: string; fingerprint: string }[];
      };
      assert.equal(file.schemaVersion, 1);
      assert.deepEqual(
        file.agents.map((a) => [a.key, a.address, a.fingerprint]),
        [[view.key, agent.address, creds.fingerprint]],
      );

      await core.stop();
      core = newCore(dir);
      core.start();
      const again = await untilEstate(
        core,
        (s) => agentState(s, agent.address) === 'connected' && s.vms.length > 0,
      );
      assert.equal(again.agents[0]?.key, view.key, 'settings persist across a restart');
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('refuses a wrong token and saves nothing', async () => {
    const creds = await initAgent({ site: 'Branch' });
    const agent = await startAgent({ dataDir: creds.dataDir });
    const dir = await makeTempDir('tl-console-');
    const core = newCore(dir);
    core.start();
    try {
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            {
              address: agent.address,
              token: 'not-the-right-token-123456',
              fingerprint: creds.fingerprint,
            },
            undefined,
          ),
        ),
        isError('UNAUTHORIZED', agent.address),
      );
      assert.deepEqual(core.snapshot().agents, []);
      assert.deepEqual(openNodeSettings(dir).agents(), []);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('refuses an agent whose certificate changed, naming both fingerprints, and does not retry', async () => {
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const first = await initAgent({ site: 'Recovery' });
    let agent = await startAgent({ dataDir: first.dataDir, listen });
    const core = newCore(await makeTempDir('tl-console-'));
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: listen, token: first.token, fingerprint: first.fingerprint },
        undefined,
      );
      await agent.stop();
      const second = await initAgent({ site: 'Recovery' });
      assert.notEqual(second.fingerprint, first.fingerprint);
      agent = await startAgent({ dataDir: second.dataDir, listen });
      const snap = await untilEstate(
        core,
        (s) => agentState(s, listen) === 'fingerprint-mismatch',
        'mismatch',
      );
      const view = snap.agents[0];
      assert.equal(view?.lastError?.code, 'FINGERPRINT_MISMATCH');
      assert.ok(view?.lastError?.message.includes(second.fingerprint));
      assert.ok(view?.lastError?.message.includes(first.fingerprint));
      assert.match(view?.lastError?.message ?? '', /remove it and add it again/);
      assert.equal(view?.nextRetryAt, undefined, 'no automatic retry');
      assert.ok(
        !agent.logs().includes('authentication failed'),
        'the token was never sent to the agent with the other certificate',
      );
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            { address: listen, token: second.token, fingerprint: first.fingerprint },
            undefined,
          ),
        ),
        isError('ALREADY_EXISTS'),
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('retries with back-off while the agent is down and refreshes the estate when it is back', async () => {
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const creds = await initAgent({ site: 'Edge' });
    let agent = await startAgent({ dataDir: creds.dataDir, listen });
    const core = newCore(await makeTempDir('tl-console-'));
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: listen, token: creds.token, fingerprint: creds.fingerprint },
        undefined,
      );
      await agent.stop();
      const down = await untilEstate(core, (s) => agentState(s, listen) === 'retrying', 'retrying');
      assert.equal(typeof down.agents[0]?.nextRetryAt, 'number');
      const later = await untilEstate(
        core,
        (s) => s.agents[0]?.lastError?.code === 'UNAVAILABLE' && s.agents[0]?.state === 'retrying',
        'an unreachable retry',
      );
      assert.match(later.agents[0]?.lastError?.message ?? '', /connection refused/);

      agent = await startAgent({ dataDir: creds.dataDir, listen });
      const up = await untilEstate(
        core,
        (s) => agentState(s, listen) === 'connected',
        'reconnected',
      );
      assert.equal(up.sites[0]?.name, 'Edge');
      assert.ok(up.vms.length > 0);
      assert.equal(up.agents[0]?.lastError, undefined);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('follows inventory.changed: another client renames the site, the estate follows', async () => {
    const creds = await initAgent({ site: 'Old name' });
    const agent = await startAgent({ dataDir: creds.dataDir });
    const core = newCore(await makeTempDir('tl-console-'));
    core.start();
    const other = await connectRaw(agent.url, {
      token: creds.token,
      fingerprint: creds.fingerprint,
    });
    try {
      await core.handlers['agents.add'](
        { address: agent.address, token: creds.token, fingerprint: creds.fingerprint },
        undefined,
      );
      await other.hello();
      await other.result('site.setDetails', { name: 'New name', location: 'Basement' });
      const snap = await untilEstate(core, (s) => s.sites[0]?.name === 'New name', 'renamed site');
      assert.equal(snap.sites[0]?.location, 'Basement');

      const siteId = snap.sites[0]?.siteId ?? '';
      const site = await core.handlers['sites.setDetails'](
        { siteId, patch: { contact: 'noc@example.com' } },
        undefined,
      );
      assert.equal(site.contact, 'noc@example.com');
      assert.equal(site.name, 'New name');
      const seen = await other.notification<{ kinds: string[] }>('inventory.changed');
      assert.ok(seen.kinds.includes('site'));
    } finally {
      await other.close();
      await core.stop();
      await agent.stop();
    }
  });
});
