import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProtectionTicks, RpoTick, VpgState } from '../../app/protocol';
import { buildSnapshot } from '../../main/services/estate/snapshot';
import { mergeVpgs } from '../../main/services/estate/vpgs';
import { TickStore } from '../../main/services/protection/tick-store';
import type { Clock } from '../../main/services/util/clock';
import { agentView } from '../helpers/agent-views';

const GIB = 2 ** 30;

const view = agentView;

function vpg(vpgId: string, role: 'source' | 'target', patch: Partial<VpgState> = {}): VpgState {
  return {
    vpgId,
    name: `VPG ${vpgId}`,
    role,
    protectedSiteId: 'hq',
    recoverySiteId: 'rdc',
    recoveryHostId: 'h1',
    recoveryDatastore: 'ds1',
    vmIds: ['vm-1'],
    disks: [{ vmId: 'vm-1', diskId: 'd1', sizeBytes: GIB }],
    journal: { historySeconds: 3600, hardLimitBytes: 10 * GIB, warningBytes: 8 * GIB },
    checkpointIntervalMs: 5000,
    rpoTargetSeconds: 30,
    status: 'Protecting',
    createdAt: 1,
    version: 1,
    backlogBytes: 0,
    journalBytes: 0,
    lastSeq: 10,
    confirmedSeq: 10,
    ...patch,
  };
}

describe('VPGs in the estate', () => {
  it('shows each VPG once, from the protected site while one of its agents is connected', () => {
    const views = mergeVpgs(
      [
        { view: view('r', 'rdc'), siteId: 'rdc', vpgs: [vpg('v1', 'target')] },
        { view: view('h', 'hq'), siteId: 'hq', vpgs: [vpg('v1', 'source'), vpg('v2', 'source')] },
      ],
      new Set(['hq', 'rdc']),
    );
    assert.deepEqual(
      views.map((v) => [v.vpgId, v.role, v.siteId, v.agentKey, v.live, v.protectedSiteOffline]),
      [
        ['v1', 'source', 'hq', 'h', true, false],
        ['v2', 'source', 'hq', 'h', true, false],
      ],
    );
  });

  it('falls back to the recovery site’s view when the protected site is offline, marked as such', () => {
    const views = mergeVpgs(
      [
        { view: view('h', 'hq', false), siteId: 'hq', vpgs: [vpg('v1', 'source')] },
        { view: view('r', 'rdc'), siteId: 'rdc', vpgs: [vpg('v1', 'target')] },
      ],
      new Set(['rdc']),
    );
    assert.equal(views.length, 1);
    const [v] = views;
    assert.deepEqual(
      [v?.role, v?.siteId, v?.live, v?.protectedSiteOffline],
      ['target', 'rdc', true, true],
    );
  });

  it('keeps a disconnected agent’s last answer when nobody else reports the VPG, not live', () => {
    const views = mergeVpgs(
      [{ view: view('h', 'hq', false), siteId: 'hq', vpgs: [vpg('v1', 'source')] }],
      new Set(),
    );
    assert.deepEqual(
      views.map((v) => [v.vpgId, v.live, v.protectedSiteOffline]),
      [['v1', false, true]],
    );
  });

  it('buildSnapshot carries the agents’ VPGs into estate.vpgs, sorted by name', () => {
    const snap = buildSnapshot([
      {
        view: view('h', 'hq'),
        inventory: {
          hosts: [],
          vms: [],
          vpgs: [vpg('b', 'source', { name: 'Billing' }), vpg('a', 'source', { name: 'Apps' })],
        },
      },
      { view: view('r', 'rdc'), inventory: { hosts: [], vms: [] } },
    ]);
    assert.deepEqual(
      snap.vpgs.map((v) => v.name),
      ['Apps', 'Billing'],
    );
  });
});

/** A clock whose timers run only when the test advances it. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    set(ms, fn) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return t;
    },
    clear(handle) {
      timers.delete(handle as { at: number; fn: () => void });
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...timers].sort((a, b) => a.at - b.at)[0];
        if (next === undefined || next.at > end) break;
        timers.delete(next);
        now = next.at;
        next.fn();
      }
      now = end;
    },
  };
}

function tick(vpgId: string, time: number, rpoSeconds = 3): RpoTick {
  return {
    vpgId,
    time,
    rpoSeconds,
    rpoTargetSeconds: 30,
    writtenBytesPerSecond: 1e6,
    sentBytesPerSecond: 1e6,
    backlogBytes: 0,
    journalBytes: GIB,
    journalHardLimitBytes: 10 * GIB,
    status: 'Protecting',
  };
}

describe('protection ticks', () => {
  it('batches the agents’ rpo.tick into at most one protection.tick a second', () => {
    const clock = manualClock();
    const store = new TickStore(clock, { intervalMs: 1000, batchMs: 100 });
    const sent: ProtectionTicks[] = [];
    store.on('protection.tick', (t) => sent.push(t));

    store.record('h', 'hq', tick('v1', 1));
    store.record('h', 'hq', tick('v2', 1));
    clock.advance(99);
    assert.equal(sent.length, 0, 'waits for the rest of the second’s ticks');
    clock.advance(1);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]?.ticks.map((t) => [t.vpgId, t.siteId, t.agentKey]).sort(), [
      ['v1', 'hq', 'h'],
      ['v2', 'hq', 'h'],
    ]);

    for (let i = 0; i < 10; i += 1) {
      store.record('h', 'hq', tick('v1', 2 + i, i));
      clock.advance(50);
    }
    // 500 ms of ticks after a flush: one more flush, at most once per interval.
    clock.advance(1000);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]?.ticks.length, 1);
    assert.equal(sent[1]?.ticks[0]?.rpoSeconds, 9, 'the latest tick');
    clock.advance(5000);
    assert.equal(sent.length, 2, 'nothing new, nothing sent');
  });

  it('keeps the latest tick of every VPG for a page that just opened; prefers the estate’s reporter', () => {
    const clock = manualClock();
    const store = new TickStore(clock);
    store.record('h', 'hq', tick('v1', 10, 4));
    clock.advance(10);
    store.record('r', 'rdc', tick('v1', 10, 7));
    assert.equal(store.latest().ticks[0]?.agentKey, 'r', 'without an estate: the newest');
    store.setVpgs([
      {
        ...vpg('v1', 'source'),
        siteId: 'hq',
        agentKey: 'h',
        live: true,
        protectedSiteOffline: false,
      },
    ]);
    assert.equal(store.latest().ticks[0]?.agentKey, 'h', 'the source side, while fresh');
    store.forget('v1');
    assert.deepEqual(store.latest().ticks, []);
  });

  it('drops the ticks of a VPG no agent lists any more, and of a detached agent', () => {
    const clock = manualClock();
    const store = new TickStore(clock);
    store.record('h', 'hq', tick('gone', 1));
    store.record('h', 'hq', tick('v1', 1));
    clock.advance(20_000);
    store.setVpgs([
      {
        ...vpg('v1', 'source'),
        siteId: 'hq',
        agentKey: 'h',
        live: true,
        protectedSiteOffline: false,
      },
    ]);
    assert.deepEqual(
      store.latest().ticks.map((t) => t.vpgId),
      ['v1'],
    );
    store.detach('h');
    assert.deepEqual(store.latest().ticks, []);
    store.close();
  });
});

describe('protection ticks of a removed VPG', () => {
  it('ignores a tick still under way after the VPG was removed', () => {
    const clock = manualClock();
    const store = new TickStore(clock);
    store.record('h', 'hq', tick('v1', 1));
    store.forget('v1');
    store.record('h', 'hq', tick('v1', 2));
    assert.deepEqual(store.latest().ticks, []);
    clock.advance(20_000);
    store.record('h', 'hq', tick('v1', 3));
    assert.equal(store.latest().ticks.length, 1, 'a VPG id used again later ticks again');
  });
});
