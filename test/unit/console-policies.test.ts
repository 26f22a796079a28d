import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import type { Policy, PolicyTarget } from '../../app/policy/policy-schemas';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  FakeAgent,
  TEST_TOKEN,
  agentState,
  makeIdentity,
  untilEstate,
  type TestIdentity,
} from './console-fake-agent';

const target: PolicyTarget = { kind: 'link', peerAgentId: 'agent-site-b' };
const agentId = 'agent-site-a';

function policy(timeframes: Policy['timeframes'] = [], version = 0): Policy {
  return {
    schemaVersion: 1,
    version,
    timeZone: 'Europe/Berlin',
    default: { rpoTargetSeconds: 300 },
    timeframes,
  };
}

const business: Policy['timeframes'][number] = {
  id: 'tf-business',
  name: 'Business hours',
  colour: '#1e88e5',
  days: [1, 2, 3, 4, 5],
  start: '08:00',
  end: '18:00',
  rpoTargetSeconds: 900,
  replicationBitsPerSecond: 20_000_000,
};

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

function code(expected: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TidelineError, `expected a TidelineError, got ${String(err)}`);
    assert.equal(err.code, expected, err.message);
    return true;
  };
}

describe('console policy drafts', () => {
  let id: TestIdentity;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'tl-policies-'));
    dirs.push(d);
    return d;
  };
  before(async () => {
    id = await makeIdentity('a');
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps drafts with no agent at all, across a new console on the same settings dir', async () => {
    const dir = tmp();
    const first = newCore(dir);
    first.start();
    const saved = await first.handlers['policies.saveDraft'](
      { agentId, target, policy: policy([business]), baseVersion: 3, label: 'Link HQ → DR' },
      undefined,
    );
    assert.equal(saved.baseVersion, 3);
    // Saving again keeps the base the draft started from, and the target's name.
    await first.handlers['policies.saveDraft'](
      { agentId, target, policy: policy([{ ...business, end: '17:00' }]), baseVersion: 9 },
      undefined,
    );
    await first.stop();

    const second = newCore(dir);
    second.start();
    try {
      const drafts = await second.handlers['policies.drafts'](undefined, undefined);
      assert.equal(drafts.length, 1);
      assert.equal(drafts[0]?.baseVersion, 3);
      assert.equal(drafts[0]?.policy.timeframes[0]?.end, '17:00');
      assert.equal(drafts[0]?.label, 'Link HQ → DR', 'named as when saved, for offline display');
      await assert.rejects(
        async () => second.handlers['policies.apply']({ agentId, target }, undefined),
        code('UNAVAILABLE'),
      );
      const gone = await second.handlers['policies.discardDraft']({ agentId, target }, undefined);
      assert.equal(gone.discarded, true);
      assert.deepEqual(await second.handlers['policies.drafts'](undefined, undefined), []);
    } finally {
      await second.stop();
    }
  });

  it('applies at the base version, refuses after the agent changed, applies after a rebase', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await untilEstate(core, (s) => agentState(s, agent.address) === 'connected');
      const key = { agentId, target };
      await core.handlers['policies.saveDraft']({ ...key, policy: policy([business]) }, undefined);
      const applied = await core.handlers['policies.apply'](key, undefined);
      assert.equal(applied.policy?.version, 1);
      assert.deepEqual(applied.policy?.timeframes, [business]);
      assert.deepEqual(await core.handlers['policies.drafts'](undefined, undefined), []);

      // A draft started from version 1; meanwhile someone else applies version 2.
      await core.handlers['policies.saveDraft'](
        { ...key, policy: policy([{ ...business, rpoTargetSeconds: 60 }]), baseVersion: 1 },
        undefined,
      );
      agent.policies.set(JSON.stringify(target), policy([], 2));
      await assert.rejects(
        async () => core.handlers['policies.apply'](key, undefined),
        (err: unknown) => {
          assert.ok(err instanceof TidelineError);
          assert.equal(err.code, 'CONFLICT');
          assert.match(
            err.message,
            /changed since this draft was started from version 1 \(now version 2\)/,
          );
          assert.match(err.message, /rebase/);
          return true;
        },
      );
      assert.equal((await core.handlers['policies.drafts'](undefined, undefined)).length, 1);

      const rebased = await core.handlers['policies.rebase'](key, undefined);
      assert.equal(rebased.baseVersion, 2);
      assert.equal(
        rebased.policy.timeframes[0]?.rpoTargetSeconds,
        60,
        'keeps the drafted timeframes',
      );
      const reapplied = await core.handlers['policies.apply'](key, undefined);
      assert.equal(reapplied.policy?.version, 3);
      const current = await core.handlers['policies.current'](key, undefined);
      assert.equal(current.policy?.timeframes[0]?.rpoTargetSeconds, 60);
    } finally {
      await core.stop();
      await agent.stop();
    }
  });

  it('reports a CONFLICT from policy.set itself with the same clear message', async () => {
    const agent = await new FakeAgent({ identity: id }).start();
    const core = newCore(tmp());
    core.start();
    try {
      await core.handlers['agents.add'](
        { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
        undefined,
      );
      await untilEstate(core, (s) => agentState(s, agent.address) === 'connected');
      const key = { agentId, target };
      await core.handlers['policies.saveDraft']({ ...key, policy: policy([business]) }, undefined);
      // The agent changes between the console's version check and its policy.set.
      const real = agent.policies.get.bind(agent.policies);
      let reads = 0;
      agent.policies.get = (k: string) => {
        reads += 1;
        if (reads === 2) agent.policies.set(k, policy([], 5));
        return real(k);
      };
      await assert.rejects(
        async () => core.handlers['policies.apply'](key, undefined),
        (err: unknown) => {
          assert.ok(err instanceof TidelineError);
          assert.equal(err.code, 'CONFLICT');
          assert.match(err.message, /changed since this draft was started from version 0\./);
          return true;
        },
      );
    } finally {
      await core.stop();
      await agent.stop();
    }
  });
});
