import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  FakeAgent,
  TEST_TOKEN,
  agentState,
  freePort,
  makeIdentity,
  untilEstate,
  vm,
  type TestIdentity,
} from './console-fake-agent';

const OTHER_FP = Array.from({ length: 32 }, () => 'AB').join(':');

function newCore(dir: string): ConsoleCore {
  return new ConsoleCore({
    settings: openNodeSettings(dir),
    mode: 'browser',
    backoff: { initialMs: 50, maxMs: 200 },
    coalesceMs: 5,
    connectTimeoutMs: 3000,
    callTimeoutMs: 3000,
  });
}

function rejectsWith(code: string, check?: (e: TidelineError) => void) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TidelineError, `expected a TidelineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    check?.(err);
    return true;
  };
}

describe('console core against an in-test agent', () => {
  let id: TestIdentity;
  let id2: TestIdentity;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'tl-console-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    [id, id2] = await Promise.all([makeIdentity('a'), makeIdentity('b')]);
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('probes the certificate with a TLS handshake only', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    try {
      const info = await core.handlers['agents.probe']({ address: agent.address }, undefined);
      assert.equal(info.fingerprint, id.fingerprint);
      assert.equal(info.address, agent.address);
      assert.match(info.subject, /CN=a/);
      assert.equal(agent.requests.length, 0, 'no HTTP request, no token');
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('adds an agent: connected, estate filled, saved with the pinned fingerprint', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const dir = tmp();
    const core = newCore(dir);
    core.start();
    try {
      const view = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      assert.equal(view.state, 'connected');
      assert.equal(view.identity?.siteId, 'site-a');
      const snap = core.snapshot();
      assert.deepEqual(
        snap.sites.map((s) => [s.siteId, s.agentKeys]),
        [['site-a', [view.key]]],
      );
      assert.equal(snap.hosts.length, 1);
      assert.equal(snap.vms[0]?.vmId, 'site-a-vm1');
      const file = join(dir, 'settings.json');
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        schemaVersion: number;
        agents: unknown[];
      };
      assert.equal(saved.schemaVersion, 1);
      assert.deepEqual(saved.agents, [
        {
          key: view.key,
          address: agent.address,
          fingerprint: id.fingerprint,
          token: { scheme: 'plain', value: TEST_TOKEN },
          addedAt: (saved.agents[0] as { addedAt: number }).addedAt,
        },
      ]);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
            undefined,
          ),
        ),
        rejectsWith('ALREADY_EXISTS'),
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('refuses a wrong token and saves nothing', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const dir = tmp();
    const core = newCore(dir);
    core.start();
    try {
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            {
              address: agent.address,
              token: 'wrong-token-0123456789',
              fingerprint: id.fingerprint,
            },
            undefined,
          ),
        ),
        rejectsWith('UNAUTHORIZED', (e) => assert.match(e.message, /refused the token/)),
      );
      assert.equal(core.snapshot().agents.length, 0);
      assert.deepEqual(openNodeSettings(dir).agents(), []);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('refuses a certificate that is not the confirmed one before sending the token', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            { address: agent.address, token: TEST_TOKEN, fingerprint: OTHER_FP },
            undefined,
          ),
        ),
        rejectsWith('FINGERPRINT_MISMATCH', (e) => {
          assert.ok(e.message.includes(id.fingerprint), e.message);
          assert.ok(e.message.includes(OTHER_FP), e.message);
        }),
      );
      assert.equal(agent.requests.length, 0, 'the token never left the console');
      assert.equal(core.snapshot().agents.length, 0);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('reports an unreachable agent and saves nothing', async () => {
    const port = await freePort();
    const core = newCore(tmp());
    core.start();
    try {
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            { address: `127.0.0.1:${port}`, token: TEST_TOKEN, fingerprint: id.fingerprint },
            undefined,
          ),
        ),
        rejectsWith('UNAVAILABLE', (e) => assert.match(e.message, /connection refused/)),
      );
      assert.equal(core.snapshot().agents.length, 0);
    } finally {
      await core.stop();
    }
  });

  it('marks an incompatible agent and refuses to add it', async () => {
    const agent = await new FakeAgent({ identity: id, incompatible: true }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await assert.rejects(
        Promise.resolve(
          core.handlers['agents.add'](
            { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
            undefined,
          ),
        ),
        rejectsWith('PROTOCOL_VERSION', (e) => assert.match(e.message, /7\.\.9/)),
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('retries with back-off when the agent goes away and refreshes the estate when it is back', async () => {
    const port = await freePort();
    let agent = await new FakeAgent({ identity: id, port }).start();
    const core = newCore(tmp());
    core.start();
    try {
      const { key } = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await agent.stop();
      const down = await untilEstate(
        core,
        (s) => agentState(s, agent.address) === 'retrying',
        'retrying',
      );
      const view = down.agents[0];
      assert.ok(view?.nextRetryAt !== undefined && view.nextRetryAt >= Date.now() - 1000);
      assert.equal(view?.lastError?.code, 'CONNECTION_CLOSED');
      assert.equal(down.vms.length, 1, 'last known inventory is kept while retrying');
      // Successive retry times are spaced by the doubling delays: [25,50], [50,100], [100,200]... capped at 200.
      const retryAts: number[] = [];
      await untilEstate(core, (s) => {
        const at = s.agents[0]?.nextRetryAt;
        if (at !== undefined && !retryAts.includes(at)) retryAts.push(at);
        return retryAts.length >= 5;
      });
      const gaps = retryAts.slice(1).map((at, i) => at - (retryAts[i] ?? 0));
      assert.ok(gaps[3]! >= 100 && gaps[3]! <= 300, `gaps ${gaps.join(',')}`);
      assert.ok(gaps[3]! > gaps[0]!, `gaps ${gaps.join(',')}`);

      agent = new FakeAgent({ identity: id, port });
      agent.vms = [vm('site-a-vm1', 'site-a-h1'), vm('site-a-vm2', 'site-a-h1')];
      await agent.start();
      const up = await untilEstate(
        core,
        (s) => agentState(s, agent.address) === 'connected' && s.vms.length === 2,
      );
      assert.equal(up.agents[0]?.key, key);
      assert.equal(up.agents[0]?.nextRetryAt, undefined);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('refuses a changed certificate of a saved agent, naming both fingerprints, without retrying', async () => {
    const port = await freePort();
    let agent = await new FakeAgent({ identity: id, port }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await agent.stop();
      agent = await new FakeAgent({ identity: id2, port }).start();
      const snap = await untilEstate(
        core,
        (s) => agentState(s, agent.address) === 'fingerprint-mismatch',
      );
      const err = snap.agents[0]?.lastError;
      assert.equal(err?.code, 'FINGERPRINT_MISMATCH');
      assert.equal(
        err?.message,
        `The agent at ${agent.address} presented certificate ${id2.fingerprint} but ${id.fingerprint} is pinned. ` +
          'If the agent was reinstalled, remove it and add it again; otherwise someone may be intercepting the connection.',
      );
      assert.equal(snap.agents[0]?.nextRetryAt, undefined);
      assert.equal(agent.requests.length, 0);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('re-fetches the kinds an inventory.changed names', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      agent.vms = [...agent.vms, vm('new-vm', 'site-a-h1')];
      agent.notify(['vm']);
      const snap = await untilEstate(core, (s) => s.vms.some((v) => v.vmId === 'new-vm'));
      assert.equal(snap.vms.find((v) => v.vmId === 'new-vm')?.siteId, 'site-a');
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('sets site details through a connected agent of the site', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    core.start();
    try {
      const { key } = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      const site = await core.handlers['sites.setDetails'](
        { siteId: 'site-a', patch: { name: 'Main DC' } },
        undefined,
      );
      assert.deepEqual(site, {
        siteId: 'site-a',
        name: 'Main DC',
        location: 'Rack 1',
        contact: 'ops@example.com',
        agentKeys: [key],
      });
      assert.equal(core.snapshot().sites[0]?.name, 'Main DC');
      await assert.rejects(
        Promise.resolve(
          core.handlers['sites.setDetails']({ siteId: 'nope', patch: { name: 'x' } }, undefined),
        ),
        rejectsWith('NOT_FOUND'),
      );
      await agent.stop();
      await untilEstate(core, (s) => agentState(s, agent.address) === 'retrying');
      await assert.rejects(
        Promise.resolve(
          core.handlers['sites.setDetails']({ siteId: 'site-a', patch: { name: 'x' } }, undefined),
        ),
        rejectsWith('UNAVAILABLE'),
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('keeps agents across a restart, removes them on request and seeds idempotently', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const dir = tmp();
    let core = newCore(dir);
    core.start();
    try {
      const { key } = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await core.stop();
      core = newCore(dir);
      core.start();
      const snap = await untilEstate(core, (s) => agentState(s, agent.address) === 'connected');
      assert.equal(snap.agents[0]?.key, key);
      core.seed([{ address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint }]);
      assert.equal(core.snapshot().agents.length, 1);
      assert.equal(core.snapshot().agents[0]?.key, key);
      assert.deepEqual(await core.handlers['agents.remove']({ key }, undefined), { removed: true });
      assert.equal(core.snapshot().agents.length, 0);
      assert.deepEqual(openNodeSettings(dir).agents(), []);
      core.seed([{ address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint }]);
      core.seed([{ address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint }]);
      await untilEstate(
        core,
        (s) => s.agents.length === 1 && agentState(s, agent.address) === 'connected',
      );
      assert.equal(openNodeSettings(dir).agents().length, 1);
      await assert.rejects(
        Promise.resolve(core.handlers['agents.remove']({ key: 'missing' }, undefined)),
        rejectsWith('NOT_FOUND'),
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('stops retrying when the token is refused, and reconnects at once on request', async () => {
    const port = await freePort();
    let agent = await new FakeAgent({ identity: id, port }).start();
    const dir = tmp();
    const core = new ConsoleCore({
      settings: openNodeSettings(dir),
      mode: 'browser',
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      coalesceMs: 5,
    });
    core.start();
    try {
      const { key } = await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await agent.stop();
      const down = await untilEstate(core, (s) => agentState(s, agent.address) === 'retrying');
      assert.ok((down.agents[0]?.nextRetryAt ?? 0) > Date.now() + 20_000, 'next attempt far away');
      agent = await new FakeAgent({ identity: id, port }).start();
      const view = await core.handlers['agents.reconnect']({ key }, undefined);
      assert.equal(view.state, 'connected');

      await agent.stop();
      await untilEstate(core, (s) => agentState(s, agent.address) === 'retrying');
      agent = await new FakeAgent({
        identity: id,
        port,
        token: 'rotated-token-0123456789',
      }).start();
      const refused = await core.handlers['agents.reconnect']({ key }, undefined);
      assert.equal(refused.state, 'unauthorized');
      assert.equal(refused.lastError?.code, 'UNAUTHORIZED');
      assert.equal(refused.nextRetryAt, undefined);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('parks an agent whose saved token cannot be opened here', async () => {
    const dir = tmp();
    openNodeSettings(dir).saveAgent({
      key: 'k',
      address: '127.0.0.1:9',
      fingerprint: id.fingerprint,
      token: TEST_TOKEN,
      addedAt: 1,
    });
    const file = join(dir, 'settings.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as {
      agents: { token: { scheme: string } }[];
    };
    data.agents[0]!.token.scheme = 'safe-storage';
    writeFileSync(file, JSON.stringify(data));
    const core = newCore(dir);
    core.start();
    try {
      const view = core.snapshot().agents[0];
      assert.equal(view?.state, 'unauthorized');
      assert.match(view?.lastError?.message ?? '', /cannot be read here/);
    } finally {
      await core.stop();
    }
  });
});
