import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, TidelineError } from '../../app/errors';
import { MetricsHistorySchema, type MetricsHistory } from '../../app/metrics/metrics-schemas';
import { WorkloadStatusSchema, type VpgState, type WorkloadStatus } from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import {
  MiB,
  call,
  createVpg,
  errorOf,
  isStatus,
  pairedSites,
  setWorkload,
  sleep,
  startSite,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

const { NOT_FOUND, INVALID_PARAMS } = ErrorCodes;

/**
 * metrics.history between two real agents: the source records every rpo.tick (1-second points,
 * minute aggregates written to its data directory), keeps the minutes across a restart and
 * deletes them with the VPG; and a workload set before a restart runs again after it.
 */

let hq: Site;
let dr: Site;
let vpg: VpgState;
let vmId: string;
let workloadSetAt = 0;

async function history(params: Record<string, unknown>): Promise<MetricsHistory> {
  return MetricsHistorySchema.parse(
    await call(hq, 'metrics.history', { vpgId: vpg.vpgId, ...params }),
  );
}

async function workload(): Promise<WorkloadStatus> {
  const { workloads } = await call<{ workloads: unknown[] }>(hq, 'vm.workload', { vmId });
  return WorkloadStatusSchema.parse(workloads[0]);
}

const metricsFile = (): string => join(hq.creds.dataDir, 'state', 'metrics', `${vpg.vpgId}.ndjson`);

before(async () => {
  [hq, dr] = await pairedSites();
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vmId = vm.vmId;
  vpg = await createVpg(hq, dr, { vmIds: [vmId], checkpointIntervalMs: 1000 });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting');
});
after(cleanupAgents);

describe('metrics history and workloads across restarts', { timeout: 120_000 }, () => {
  it('records a point a second with the write rate and the RPO', async () => {
    await setWorkload(hq, vmId, MiB);
    workloadSetAt = Date.now();
    await sleep(5500);
    const result = await history({ from: workloadSetAt, to: workloadSetAt + 5000 });
    assert.equal(result.resolution, 'second');
    const { points } = result;
    assert.ok(points.length >= 4 && points.length <= 7, `~5 points: ${JSON.stringify(points)}`);
    for (let i = 1; i < points.length; i++) {
      assert.ok((points[i]?.time ?? 0) > (points[i - 1]?.time ?? 0), 'oldest first, one a second');
    }
    const writing = points.filter((p) => p.writtenBytesPerSecond > 0);
    assert.ok(writing.length >= 3, `bytes/s written > 0: ${JSON.stringify(points)}`);
    assert.ok(points.every((p) => p.rpoTargetSeconds === 10));
    assert.ok(
      points.some((p) => p.rpoSeconds !== undefined && p.rpoSeconds < 10),
      `RPO known and met: ${JSON.stringify(points)}`,
    );
    assert.ok(
      points.some((p) => p.sentBytesPerSecond > 0),
      'bytes/s sent > 0',
    );
  });

  it('reaches the console: protection.history through the console core', async () => {
    const core = new ConsoleCore({
      settings: openNodeSettings(await makeTempDir('tl-console-metrics-')),
      mode: 'browser',
      backoff: { initialMs: 100, maxMs: 400 },
    });
    core.start();
    try {
      await core.addAgent({
        address: hq.agent.address,
        token: hq.creds.token,
        fingerprint: hq.creds.fingerprint,
      });
      const handler = core.handlers['protection.history'] as (p: unknown, c: unknown) => unknown;
      const result = MetricsHistorySchema.parse(
        await handler({ siteId: hq.siteId, vpgId: vpg.vpgId, resolution: 'second' }, undefined),
      );
      assert.ok(result.points.some((p) => p.writtenBytesPerSecond > 0));
      await assert.rejects(
        Promise.resolve(handler({ siteId: hq.siteId, vpgId: 'no-such-vpg' }, undefined)),
        (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
      );
    } finally {
      await core.stop();
    }
  });

  it('says what is wrong with a query: unknown VPG, range out of retention', async () => {
    const unknown = await errorOf(hq, 'metrics.history', { vpgId: 'no-such-vpg' });
    assert.equal(unknown.code, NOT_FOUND);
    const tooOld = await errorOf(hq, 'metrics.history', {
      vpgId: vpg.vpgId,
      from: Date.now() - 3 * 3600_000,
      resolution: 'second',
    });
    assert.equal(tooOld.code, INVALID_PARAMS);
    assert.match(tooOld.message, /kept for the last hour only/);
  });

  it('keeps the minute history and the workload across a restart of the source agent', async () => {
    const before = await history({ resolution: 'minute', from: workloadSetAt - 60_000 });
    assert.ok(before.points.length >= 1);

    await stopSite(hq);
    await access(metricsFile()); // the partial minute was written at the clean stop
    await startSite(hq);

    const after = await history({ resolution: 'minute', from: workloadSetAt - 60_000 });
    const written = after.points.filter((p) => p.writtenBytesPerSecond > 0);
    assert.ok(written.length >= 1, `the minutes written to before: ${JSON.stringify(after)}`);
    assert.ok(
      before.points.every((p) => after.points.some((q) => q.time === p.time)),
      'every minute seen before the restart is still there',
    );

    // The workload set before the restart runs again, at the same rate.
    const first = await workload();
    assert.equal(first.bytesPerSecond, MiB);
    const deadline = Date.now() + 20_000;
    let now = await workload();
    while (now.writes <= first.writes + 5) {
      assert.ok(Date.now() < deadline, `the workload writes again: ${JSON.stringify(now)}`);
      await sleep(200);
      now = await workload();
    }
    // And the seconds start again after the restart.
    await sleep(2500);
    const seconds = await history({});
    assert.equal(seconds.resolution, 'second');
    assert.ok(
      seconds.points.some((p) => p.time > Date.now() - 5000 && p.writtenBytesPerSecond > 0),
    );
  });

  it('deletes the history with the VPG', async () => {
    await call(hq, 'vpg.remove', { vpgId: vpg.vpgId });
    const deadline = Date.now() + 5000;
    while (
      await access(metricsFile()).then(
        () => true,
        () => false,
      )
    ) {
      assert.ok(Date.now() < deadline, 'the metrics file is deleted');
      await sleep(50);
    }
    const gone = await errorOf(hq, 'metrics.history', { vpgId: vpg.vpgId });
    assert.equal(gone.code, NOT_FOUND);
    assert.equal((await workload()).bytesPerSecond, 0);
  });
});
