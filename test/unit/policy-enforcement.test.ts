import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { isTidelineError } from '../../app/errors';
import type { Policy } from '../../app/policy/policy-schemas';
import { PolicyService } from '../../agent/policy/policy-operations';
import { PolicyScheduler, type PolicyVpgInfo } from '../../agent/policy/policy-scheduler';
import { PolicyStore } from '../../agent/policy/policy-store';
import { TokenBucket } from '../../agent/policy/token-bucket';

const log = pino({ level: 'silent' });
/** Monday 6 January 2025, 09:00 UTC. */
const MONDAY_9 = Date.UTC(2025, 0, 6, 9, 0, 0);

/** Whether `promise` has settled after the pending timers and I/O had their turn. */
async function settled(promise: Promise<unknown>, waitMs = 30): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await sleep(waitMs);
  return done;
}

describe('TokenBucket', () => {
  it('lets a burst through, then holds takers until the clock has paid for them', async () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 0.2, () => now); // 200 bytes of burst
    assert.equal(await settled(bucket.take(200)), true, 'the burst goes at once');
    const second = bucket.take(100);
    assert.equal(await settled(second), false, 'no tokens left');
    now = 50;
    assert.equal(await settled(second), false, 'half paid');
    now = 100;
    assert.equal(await settled(second, 60), true, 'paid');
  });

  it('lets a take larger than the burst go when full, in debt', async () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 0.2, () => now);
    assert.equal(await settled(bucket.take(5000)), true, 'a big record never stalls');
    const next = bucket.take(1);
    now = 4000;
    assert.equal(await settled(next), false, 'the debt of 4800 bytes is not paid at 4 s');
    now = 5000;
    assert.equal(await settled(next, 300), true, 'a long wait looks at the clock again');
  });

  it('applies a rate change to a waiting take at once; undefined is unlimited', async () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 0.2, () => now);
    await bucket.take(200);
    const waiting = bucket.take(200);
    now = 20; // 20 bytes paid at the old rate
    assert.equal(await settled(waiting), false);
    bucket.setRate(100_000); // 180 missing bytes take 1.8 ms now
    now = 22;
    assert.equal(await settled(waiting, 60), true, 'the new rate paid it');
    bucket.setRate(10);
    await bucket.take(2);
    const held = bucket.take(1000);
    assert.equal(await settled(held), false);
    bucket.setRate(undefined);
    assert.equal(await settled(held), true, 'unlimited releases it');
    assert.equal(await settled(bucket.take(1e9)), true);
  });
});

function policy(version: number, extra: Partial<Policy> = {}): Policy {
  return {
    schemaVersion: 1,
    version,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: 300, replicationBitsPerSecond: 16_000_000 },
    timeframes: [
      {
        id: 'office',
        name: 'Office hours',
        colour: '#1e88e5',
        days: [1, 2, 3, 4, 5],
        start: '08:00',
        end: '18:00',
        rpoTargetSeconds: 900,
        replicationBitsPerSecond: 8_000_000,
        seedingBitsPerSecond: 4_000_000,
      },
    ],
    ...extra,
  };
}

describe('PolicyService', () => {
  let dir: string;
  let file: string;
  const vpgs = new Map<string, PolicyVpgInfo>([
    ['vpg-out', { role: 'source', peerAgentId: 'agent-b', rpoTargetSeconds: 30 }],
    ['vpg-in', { role: 'target', peerAgentId: 'agent-b', rpoTargetSeconds: 45 }],
    ['vpg-own', { role: 'source', peerAgentId: 'agent-c', rpoTargetSeconds: 20 }],
  ]);

  async function open() {
    const store = new PolicyStore(file, log);
    await store.load();
    const vpg = (id: string) => vpgs.get(id);
    const scheduler = new PolicyScheduler({ store, vpg, log, now: () => MONDAY_9 });
    const service = new PolicyService({
      store,
      scheduler,
      vpg,
      isPeer: (id) => id === 'agent-b' || id === 'agent-c',
      log,
    });
    return { store, scheduler, service };
  }

  async function refusal(run: () => Promise<unknown>) {
    try {
      await run();
    } catch (err) {
      if (isTidelineError(err)) return err;
      throw err;
    }
    assert.fail('expected a refusal');
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tideline-policy-'));
    file = join(dir, 'policies.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('binds with a version check, persists, and unbinds', async () => {
    const { service } = await open();
    const link = { kind: 'link', peerAgentId: 'agent-b' } as const;
    const first = await service.set(link, policy(0));
    assert.equal(first.policy?.version, 1);
    assert.equal(first.inForce?.timeframeName, 'Office hours');
    assert.equal(first.inForce?.replicationBitsPerSecond, 8_000_000);

    const stale = await refusal(() => service.set(link, policy(0)));
    assert.equal(stale.code, 'CONFLICT');
    assert.match(stale.message, /version 0.*version 1/);
    assert.equal((await service.set(link, policy(1))).policy?.version, 2);

    const reopened = await open();
    assert.equal(reopened.service.get(link).policy?.version, 2, 'kept across a restart');
    assert.match(await readFile(file, 'utf8'), /agent-b/);

    assert.equal((await reopened.service.set(link, null)).policy, undefined);
    assert.equal((await open()).service.get(link).policy, undefined);
  });

  it('refuses an invalid policy with every issue, the recovery side and unknown targets', async () => {
    const { service } = await open();
    const link = { kind: 'link', peerAgentId: 'agent-b' } as const;
    const broken = policy(0, { timeZone: 'Nowhere/Never' });
    const invalid = await refusal(() => service.set(link, broken));
    assert.equal(invalid.code, 'INVALID_PARAMS');
    assert.match(invalid.message, /timeZone/);
    const { valid, issues } = service.validate(broken);
    assert.equal(valid, false);
    assert.ok(
      issues.some((i) => i.path === 'timeZone'),
      JSON.stringify(issues),
    );
    assert.deepEqual(service.validate(policy(0)), { valid: true, issues: [] });

    const received = await refusal(() => service.set({ kind: 'vpg', vpgId: 'vpg-in' }, policy(0)));
    assert.equal(received.code, 'CONFLICT');
    assert.match(received.message, /protected site's agent/);
    assert.deepEqual(service.get({ kind: 'vpg', vpgId: 'vpg-in' }), {
      target: { kind: 'vpg', vpgId: 'vpg-in' },
    });
    const unknown = await refusal(() => service.set({ kind: 'vpg', vpgId: 'nope' }, policy(0)));
    assert.equal(unknown.code, 'NOT_FOUND');
    const unpaired = await refusal(() =>
      service.set({ kind: 'link', peerAgentId: 'stranger' }, policy(0)),
    );
    assert.equal(unpaired.code, 'NOT_FOUND');
  });

  it("gives the RPO target in force: the VPG's policy over its link's over its own", async () => {
    const { service, scheduler } = await open();
    assert.equal(scheduler.rpoTargetAt('vpg-out', MONDAY_9), 30, 'no policy: its own');
    await service.set({ kind: 'link', peerAgentId: 'agent-b' }, policy(0));
    assert.equal(scheduler.rpoTargetAt('vpg-out', MONDAY_9), 900, "the link's timeframe");
    assert.equal(scheduler.rpoTargetAt('vpg-out', Date.UTC(2025, 0, 6, 20)), 300, 'default');
    assert.equal(scheduler.rpoTargetAt('vpg-own', MONDAY_9), 20, 'another link: its own');
    const own = policy(0, { timeframes: [], default: { rpoTargetSeconds: 60 } });
    const record = await service.set({ kind: 'vpg', vpgId: 'vpg-out' }, own);
    assert.equal(record.inForce?.rpoTargetSeconds, 60);
    assert.equal(scheduler.rpoTargetAt('vpg-out', MONDAY_9), 60, 'its own policy overrides');
    assert.equal(scheduler.rpoTargetAt('gone', MONDAY_9, 15), 15, 'unknown: the fallback');
  });
});
