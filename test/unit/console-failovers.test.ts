import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTidelineError } from '../../app/errors';
import {
  FailoverStartParamsSchema,
  type ConsoleFailover,
  type FailoverStartParams,
  type FailoverStatus,
} from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  FakeAgent,
  TEST_TOKEN,
  makeIdentity,
  untilEstate,
  type TestIdentity,
} from './console-fake-agent';

function status(patch: Partial<FailoverStatus> = {}): FailoverStatus {
  return {
    failoverId: 'fo-1',
    vpgId: 'vpg-1',
    vpgName: 'Web tier',
    mode: 'test',
    phase: 'Running',
    taskId: 'task-0',
    checkpoint: { seq: 40, sourceTime: 1_000_000 },
    commitPolicy: { kind: 'none' },
    reverseProtection: false,
    vms: [],
    networks: [],
    startedAt: 2_000_000,
    ...patch,
  };
}

function nextFailover(
  core: ConsoleCore,
  match: (f: ConsoleFailover) => boolean,
): Promise<ConsoleFailover> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no matching recovery.failover')), 5000);
    const listener = (f: ConsoleFailover): void => {
      if (!match(f)) return;
      clearTimeout(timer);
      core.events.off('recovery.failover', listener);
      resolve(f);
    };
    core.events.on('recovery.failover', listener);
  });
}

describe('console failovers against in-test agents', () => {
  let ids: TestIdentity[];
  let dir: string;
  before(async () => {
    ids = [await makeIdentity('dr-1'), await makeIdentity('dr-2'), await makeIdentity('hq')];
    dir = mkdtempSync(join(tmpdir(), 'tl-console-failovers-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists and follows failovers, and runs each operation on the recovery site agent that holds the VPG', async () => {
    // Two agents of the recovery site: only the second holds the VPG's journal.
    const first = await new FakeAgent({ identity: ids[0]!, siteId: 'dr', agentId: 'a-1' }).start();
    const holder = await new FakeAgent({ identity: ids[1]!, siteId: 'dr', agentId: 'a-2' }).start();
    holder.recoveryVpgs.add('vpg-1');
    holder.failovers.push(status({ failoverId: 'fo-old', phase: 'Stopped', startedAt: 1_000 }));
    const core = new ConsoleCore({
      settings: openNodeSettings(dir),
      mode: 'browser',
      backoff: { initialMs: 50, maxMs: 200 },
      coalesceMs: 5,
      connectTimeoutMs: 3000,
      callTimeoutMs: 3000,
    });
    core.start();
    // As the transports do: params parsed by the ConsoleApi's schema (defaults filled in).
    const start = (params: FailoverStartParams) =>
      core.handlers['failovers.start'](FailoverStartParamsSchema.parse(params), undefined);
    try {
      const loaded = nextFailover(core, (f) => f.failoverId === 'fo-old');
      for (const [agent, id] of [
        [first, ids[0]!],
        [holder, ids[1]!],
      ] as const) {
        await core.handlers['agents.add'](
          { address: agent.address, token: TEST_TOKEN, fingerprint: id.fingerprint },
          undefined,
        );
      }
      await untilEstate(core, (s) => s.agents.every((a) => a.state === 'connected'));
      const old = await loaded;
      assert.equal(old.siteId, 'dr');

      const started = await start({
        mode: 'test',
        siteId: 'dr',
        vpgId: 'vpg-1',
        checkpoint: { kind: 'seq', seq: 40 },
      });
      assert.equal(started.taskId, 'task-1');
      assert.equal(started.siteId, 'dr');
      assert.deepEqual(holder.failoverCalls[0], {
        method: 'failover.test',
        params: { vpgId: 'vpg-1', checkpoint: { kind: 'seq', seq: 40 } },
      });
      assert.equal(first.failoverCalls.length, 0, 'the agent without the journal ran nothing');

      // The agent reports progress: the console forwards it with its site and agent.
      const testing = nextFailover(core, (f) => f.phase === 'Testing');
      holder.failoverStatus(status({ phase: 'Testing' }));
      assert.equal((await testing).agentKey, started.agentKey);
      const listed = (await core.handlers['failovers.list'](undefined, undefined)).failovers;
      assert.deepEqual(
        listed.map((f) => [f.failoverId, f.phase]),
        [
          ['fo-1', 'Testing'],
          ['fo-old', 'Stopped'],
        ],
        'newest first, one entry per failover',
      );

      await core.handlers['failovers.stopTest'](
        { siteId: 'dr', vpgId: 'vpg-1', result: 'Failed', note: 'app did not start' },
        undefined,
      );
      await start({
        mode: 'live',
        siteId: 'dr',
        vpgId: 'vpg-1',
        commitPolicy: { kind: 'autoRollback', afterSeconds: 600 },
      });
      await core.handlers['failovers.rollback']({ siteId: 'dr', vpgId: 'vpg-1' }, undefined);
      assert.deepEqual(
        holder.failoverCalls.map((c) => c.method),
        ['failover.test', 'failover.stopTest', 'failover.live', 'failover.rollback'],
      );
      assert.deepEqual(holder.failoverCalls[1]?.params, {
        vpgId: 'vpg-1',
        result: 'Failed',
        note: 'app did not start',
      });
      assert.equal(
        (holder.failoverCalls[2]?.params as { shutdownProtectedVms: boolean }).shutdownProtectedVms,
        false,
        'defaults filled in by the schema',
      );

      // No agent of the site holds the VPG: the agents' NOT_FOUND, with context.
      await assert.rejects(
        async () => core.handlers['failovers.commit']({ siteId: 'dr', vpgId: 'vpg-9' }, undefined),
        (err: unknown) =>
          isTidelineError(err) &&
          err.code === 'NOT_FOUND' &&
          /No connected agent of site "Site dr" holds VPG "vpg-9"/.test(err.message),
      );
      // A site the console knows no agent of.
      await assert.rejects(
        async () =>
          core.handlers['failovers.rollback']({ siteId: 'nowhere', vpgId: 'vpg-1' }, undefined),
        (err: unknown) => isTidelineError(err) && err.code === 'NOT_FOUND',
      );

      // The recovery site's agents go away: their failovers leave the list, and starting one
      // says why it cannot run.
      await holder.stop();
      await first.stop();
      await untilEstate(core, (s) => s.agents.every((a) => a.state !== 'connected'));
      assert.deepEqual((await core.handlers['failovers.list'](undefined, undefined)).failovers, []);
      await assert.rejects(
        async () => start({ mode: 'live', siteId: 'dr', vpgId: 'vpg-1' }),
        (err: unknown) =>
          isTidelineError(err) &&
          err.code === 'UNAVAILABLE' &&
          /No agent of the recovery site "Site dr" is connected/.test(err.message),
      );
    } finally {
      await core.stop();
      await first.stop();
      await holder.stop();
    }
  });
});
