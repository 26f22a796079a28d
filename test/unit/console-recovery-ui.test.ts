import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import type { EstateSnapshot, ProtectionTask, VpgView } from '../../app/protocol/console-api';
import type { ConsoleFailover } from '../../app/protocol/console-recovery-api';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import {
  EMPTY_FAILOVER_FORM,
  activeFailover,
  commitPolicyOf,
  failoverActions,
  failoverStepError,
  failoverTasks,
  offeredModes,
  protectedSiteUnreachable,
  resolveChoice,
  startParams,
  stepRows,
  taskPercent,
  thinMarks,
  timelineMarks,
  viewedFailover,
  vmNowLabel,
  vmRows,
  testReminder,
} from '../../renderer/lib/recovery';

const T0 = Date.UTC(2026, 4, 3, 14, 0, 0);

function checkpoint(seq: number, extra: Partial<CheckpointInfo> = {}): CheckpointInfo {
  return { vpgId: 'vpg-1', seq, sourceTime: T0 + seq * 1000, confirmed: true, ...extra };
}

const CHECKPOINTS: CheckpointInfo[] = [
  checkpoint(1, { inconsistent: true }),
  checkpoint(2),
  checkpoint(3, { name: 'before-upgrade', tested: { at: T0 + 60_000, result: 'Passed' } }),
  checkpoint(4),
  checkpoint(5, { name: 'nightly' }),
  checkpoint(6),
  checkpoint(7, { confirmed: false }),
];

const VPG = {
  vpgId: 'vpg-1',
  name: 'Payroll',
  protectedSiteId: 'hq',
  recoverySiteId: 'dr',
  protectedSiteOffline: false,
} as VpgView;

function snapshot(
  hqState: 'connected' | 'retrying',
  drState: 'connected' | 'retrying' = 'connected',
) {
  return {
    sites: [
      { siteId: 'hq', name: 'Headquarters', agentKeys: ['a-hq'] },
      { siteId: 'dr', name: 'Recovery DC', agentKeys: ['a-dr'] },
    ],
    agents: [
      { key: 'a-hq', state: hqState },
      { key: 'a-dr', state: drState },
    ],
  } as unknown as EstateSnapshot;
}

function failover(extra: Partial<ConsoleFailover> = {}): ConsoleFailover {
  return {
    failoverId: 'f-1',
    vpgId: 'vpg-1',
    vpgName: 'Payroll',
    mode: 'test',
    phase: 'Testing',
    taskId: 't-1',
    checkpoint: { seq: 3, sourceTime: T0 + 3000, name: 'before-upgrade' },
    commitPolicy: { kind: 'none' },
    reverseProtection: false,
    vms: [],
    networks: [],
    startedAt: T0 + 100_000,
    siteId: 'dr',
    agentKey: 'a-dr',
    ...extra,
  };
}

function task(extra: Partial<ProtectionTask>): ProtectionTask {
  return {
    taskId: 't-1',
    type: 'FailoverTest',
    vpgId: 'vpg-1',
    input: {},
    status: 'Running',
    completionCode: 'NotAvailable',
    progress: 0.5,
    steps: [],
    startedAt: T0 + 100_000,
    updatedAt: T0 + 101_000,
    abortable: false,
    siteId: 'dr',
    agentKey: 'a-dr',
    ...extra,
  };
}

describe('the checkpoint timeline', () => {
  it('offers only confirmed, consistent checkpoints, placed by time, named and tested marked', () => {
    const marks = timelineMarks(CHECKPOINTS);
    assert.deepEqual(
      marks.map((m) => m.checkpoint.seq),
      [2, 3, 4, 5, 6],
    );
    assert.equal(marks[0]?.position, 0);
    assert.equal(marks[4]?.position, 1);
    assert.equal(marks[1]?.position, 0.25);
    assert.deepEqual(
      marks.map((m) => [m.named, m.tested]),
      [
        [false, false],
        [true, true],
        [false, false],
        [true, false],
        [false, false],
      ],
    );
  });

  it('puts a lone checkpoint at the newest end', () => {
    assert.equal(timelineMarks([checkpoint(9)])[0]?.position, 1);
    assert.deepEqual(timelineMarks([]), []);
  });

  it('thins crowded automatic marks but keeps named, tested, chosen and the newest', () => {
    const many = Array.from({ length: 1001 }, (_, i) => checkpoint(i + 1));
    many[500] = checkpoint(501, { name: 'mid' });
    const thinned = thinMarks(timelineMarks(many), 0.05, 777);
    const seqs = thinned.map((m) => m.checkpoint.seq);
    assert.ok(thinned.length < 40, `${thinned.length} marks`);
    for (const seq of [1, 501, 777, 1001]) assert.ok(seqs.includes(seq), `keeps ${seq}`);
  });

  it('resolves latest, latest named and a given checkpoint, never an inconsistent one', () => {
    assert.equal(resolveChoice({ kind: 'latest' }, CHECKPOINTS)?.seq, 6);
    assert.equal(resolveChoice({ kind: 'latestNamed' }, CHECKPOINTS)?.seq, 5);
    assert.equal(resolveChoice({ kind: 'seq', seq: 3 }, CHECKPOINTS)?.seq, 3);
    assert.equal(resolveChoice({ kind: 'seq', seq: 1 }, CHECKPOINTS), undefined);
    assert.equal(resolveChoice({ kind: 'seq', seq: 7 }, CHECKPOINTS), undefined);
    assert.equal(resolveChoice({ kind: 'latestNamed' }, [checkpoint(2)]), undefined);
  });
});

describe('which failover modes are offered', () => {
  const blockers = (snap: EstateSnapshot, vpg: VpgView, active?: ConsoleFailover) =>
    Object.fromEntries(offeredModes(snap, vpg, active).map((o) => [o.mode, o.blocker]));

  it('offers all three while both sites answer', () => {
    assert.deepEqual(blockers(snapshot('connected'), VPG), {
      test: undefined,
      live: undefined,
      move: undefined,
    });
  });

  it('offers test and live, not move, with the protected site unreachable', () => {
    for (const [snap, vpg] of [
      [snapshot('retrying'), VPG],
      [snapshot('connected'), { ...VPG, protectedSiteOffline: true }],
    ] as const) {
      assert.equal(protectedSiteUnreachable(snap, vpg), true);
      const b = blockers(snap, vpg);
      assert.equal(b.test, undefined);
      assert.equal(b.live, undefined);
      assert.match(b.move ?? '', /Headquarters is unreachable/);
    }
  });

  it('offers nothing without the recovery site, or while a failover of the VPG is under way', () => {
    const down = blockers(snapshot('connected', 'retrying'), VPG);
    for (const mode of ['test', 'live', 'move']) assert.match(down[mode] ?? '', /Recovery DC/);
    const running = failover({ phase: 'BeforeCommit', mode: 'live' });
    assert.equal(activeFailover([running], 'vpg-1'), running);
    assert.equal(activeFailover([failover({ phase: 'Stopped' })], 'vpg-1'), undefined);
    const busy = blockers(snapshot('connected'), VPG, running);
    for (const mode of ['test', 'live', 'move']) assert.match(busy[mode] ?? '', /under way/);
  });
});

describe('the wizard form', () => {
  const offers = offeredModes(snapshot('retrying'), VPG, undefined);

  it('checks each step: a VPG, an offered mode, an available checkpoint, whole minutes', () => {
    assert.equal(failoverStepError(0, EMPTY_FAILOVER_FORM, offers, CHECKPOINTS), 'Choose a VPG.');
    const form = { ...EMPTY_FAILOVER_FORM, vpgId: 'vpg-1' };
    assert.equal(failoverStepError(0, form, offers, CHECKPOINTS), undefined);
    assert.match(
      failoverStepError(1, { ...form, mode: 'move' }, offers, CHECKPOINTS) ?? '',
      /unreachable/,
    );
    assert.match(
      failoverStepError(2, { ...form, checkpoint: { kind: 'latestNamed' } }, offers, []) ?? '',
      /No named checkpoint/,
    );
    const live = { ...form, mode: 'live' as const, commitPolicy: 'autoRollback' as const };
    assert.match(
      failoverStepError(3, { ...live, commitMinutes: '2.5' }, offers, CHECKPOINTS) ?? '',
      /whole number/,
    );
    assert.deepEqual(commitPolicyOf({ ...live, commitMinutes: '15' }), {
      kind: 'autoRollback',
      afterSeconds: 900,
    });
  });

  it('starts at the recovery site with the options of its mode only', () => {
    const form = {
      ...EMPTY_FAILOVER_FORM,
      vpgId: 'vpg-1',
      checkpoint: { kind: 'seq' as const, seq: 3 },
      shutdownProtectedVms: true,
      reverseProtection: true,
    };
    assert.deepEqual(startParams(form, VPG), {
      mode: 'test',
      siteId: 'dr',
      vpgId: 'vpg-1',
      checkpoint: { kind: 'seq', seq: 3 },
    });
    assert.deepEqual(startParams({ ...form, mode: 'live' }, VPG), {
      mode: 'live',
      siteId: 'dr',
      vpgId: 'vpg-1',
      checkpoint: { kind: 'seq', seq: 3 },
      commitPolicy: { kind: 'none' },
      shutdownProtectedVms: true,
      reverseProtection: true,
    });
    assert.deepEqual(startParams({ ...form, mode: 'move' }, VPG), {
      mode: 'move',
      siteId: 'dr',
      vpgId: 'vpg-1',
      commitPolicy: { kind: 'none' },
      reverseProtection: true,
    });
  });

  it('a test of some VMs: their ids go with it, none chosen is refused; other modes take all', () => {
    const form = { ...EMPTY_FAILOVER_FORM, vpgId: 'vpg-1', testVmIds: ['vm-2'] };
    assert.deepEqual(startParams(form, VPG), {
      mode: 'test',
      siteId: 'dr',
      vpgId: 'vpg-1',
      checkpoint: { kind: 'latest' },
      vmIds: ['vm-2'],
    });
    assert.equal('vmIds' in startParams({ ...form, mode: 'live' }, VPG), false);
    assert.match(
      failoverStepError(3, { ...form, testVmIds: [] }, [], CHECKPOINTS) ?? '',
      /at least one VM/,
    );
    assert.equal(failoverStepError(3, form, [], CHECKPOINTS), undefined);
  });
});

describe('following a failover', () => {
  it('draws each step with a bar; a step still running when its task failed is where it failed', () => {
    const steps: ProtectionTask['steps'] = [
      { name: 'Choose the checkpoint', progress: 1, status: 'Done' },
      { name: 'Open the recovery disks', progress: 0.42, status: 'Running' },
      { name: 'Power on by boot group', progress: 0, status: 'Pending' },
    ];
    assert.deepEqual(stepRows(task({ steps })), [
      { name: 'Choose the checkpoint', percent: 100, state: 'done' },
      { name: 'Open the recovery disks', percent: 42, state: 'running' },
      { name: 'Power on by boot group', percent: 0, state: 'pending' },
    ]);
    const failed = task({ steps, status: 'Completed', completionCode: 'Failed' });
    assert.equal(stepRows(failed)[1]?.state, 'failed');
    assert.deepEqual(stepRows(undefined), []);
  });

  it('lists the VMs in boot order, with when each came up after the start', () => {
    const f = failover({
      vms: [
        { sourceVmId: 'b', name: 'app', bootGroup: 1, nics: [] },
        {
          sourceVmId: 'a',
          name: 'db',
          bootGroup: 0,
          poweredOnAt: T0 + 104_000,
          nics: [
            { name: 'eth0', network: 'prod', ip: { mode: 'keep' } },
            { name: 'eth1', network: 'prod', ip: { mode: 'dhcp' } },
            {
              name: 'eth2',
              network: 'lab',
              ip: { mode: 'static', address: '10.9.0.5', prefixLength: 24, dns: [] },
            },
          ],
        },
      ],
    });
    const rows = vmRows(f);
    assert.deepEqual(
      rows.map((r) => [r.name, r.bootGroup, r.afterSeconds, r.networks]),
      [
        ['db', 0, 4, 'prod, prod (DHCP), lab (10.9.0.5/24)'],
        ['app', 1, undefined, '—'],
      ],
    );
  });

  it('offers commit and roll back before commit, stop for a running test, nothing once ended', () => {
    assert.deepEqual(failoverActions(failover({ phase: 'BeforeCommit' })), {
      commit: true,
      rollback: true,
      stopTest: false,
    });
    assert.deepEqual(failoverActions(failover({ phase: 'BeforeCommit', promotionStarted: true })), {
      commit: true,
      rollback: false,
      stopTest: false,
    });
    assert.deepEqual(failoverActions(failover({ phase: 'Testing' })), {
      commit: false,
      rollback: false,
      stopTest: true,
    });
    assert.deepEqual(failoverActions(failover({ phase: 'Stopped' })), {
      commit: false,
      rollback: false,
      stopTest: false,
    });
  });

  it('shows the failover a started task brings, and its follow-up tasks in order', () => {
    const older = failover({ failoverId: 'f-0', taskId: 't-0', startedAt: T0, phase: 'Stopped' });
    const current = failover({ endedAt: T0 + 200_000, phase: 'Stopped' });
    assert.equal(viewedFailover([older], { vpgId: 'vpg-1', taskId: 't-1' }), undefined);
    assert.equal(viewedFailover([older, current], { vpgId: 'vpg-1', taskId: 't-1' }), current);
    assert.equal(viewedFailover([older, current], { vpgId: 'vpg-1' }), current);
    assert.equal(viewedFailover([older, current], { vpgId: 'vpg-1', failoverId: 'f-0' }), older);
    const tasks = {
      't-1': task({}),
      't-2': task({ taskId: 't-2', type: 'StopFailoverTest', startedAt: T0 + 150_000 }),
      't-9': task({ taskId: 't-9', type: 'InitialSync', startedAt: T0 + 120_000 }),
      't-0': task({ taskId: 't-0', type: 'StopFailoverTest', startedAt: T0 + 50_000 }),
    };
    assert.deepEqual(
      failoverTasks(current, tasks).map((t) => t.taskId),
      ['t-1', 't-2'],
    );
  });
});

describe('a recovered VM and a task at a glance', () => {
  it('says what a VM is now: the recovery site’s inventory first, then the failover', () => {
    assert.equal(vmNowLabel({ poweredOnAt: undefined }, 'stopped', false), 'Registered');
    assert.equal(vmNowLabel({ poweredOnAt: T0 }, 'running', false), 'Running');
    assert.equal(vmNowLabel({ poweredOnAt: undefined }, undefined, false), 'Waiting');
    assert.equal(vmNowLabel({ poweredOnAt: T0 }, undefined, true), 'Removed');
    assert.equal(vmNowLabel({ poweredOnAt: T0 }, 'stopped', true), 'Off');
  });

  it('reads a task’s progress from its steps when its own figure lags', () => {
    const steps: ProtectionTask['steps'] = [
      { name: 'a', progress: 1, status: 'Done' },
      { name: 'b', progress: 0.5, status: 'Running' },
    ];
    assert.equal(taskPercent(task({ progress: 0, steps })), 75);
    assert.equal(taskPercent(task({ progress: 0.9, steps })), 90);
    assert.equal(taskPercent(task({ status: 'Completed', completionCode: 'Success' })), 100);
  });
});

test('the test reminder: tested when, and overdue when never tested or over 30 days ago', () => {
  const DAY = 86_400_000;
  const now = Date.UTC(2026, 11, 5, 12);
  assert.deepEqual(testReminder({ createdAt: now - 2 * DAY }, now), {
    label: 'Not tested yet',
    overdue: false,
  });
  assert.deepEqual(testReminder({ createdAt: now - 40 * DAY }, now), {
    label: 'Not tested in 30 days',
    overdue: true,
  });
  assert.deepEqual(testReminder({ createdAt: now - 90 * DAY, lastTestedAt: now - 3600_000 }, now), {
    label: 'Tested today',
    overdue: false,
  });
  assert.deepEqual(testReminder({ createdAt: now - 90 * DAY, lastTestedAt: now - 30 * DAY }, now), {
    label: 'Tested 30 days ago',
    overdue: false,
  });
  assert.deepEqual(testReminder({ createdAt: now - 90 * DAY, lastTestedAt: now - 31 * DAY }, now), {
    label: 'Not tested for 31 days',
    overdue: true,
  });
});
