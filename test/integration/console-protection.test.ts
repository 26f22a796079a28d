import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  CheckpointInfo,
  ConsoleMethods,
  ParamsIn,
  ProtectionTick,
  ProtectionTicks,
  ResultOut,
  VpgSettings,
  VpgState,
  VpgView,
} from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  makeTempDir,
  startAgent,
  type InitializedAgent,
  type RunningAgent,
} from '../helpers/agents';
import { untilEstate } from '../unit/console-fake-agent';
import { consoleCall, isError } from '../helpers/console-call';

/**
 * The Protection page's API against two real, paired agents: a VPG created through the
 * protected site's agent shows once in the estate, its rpo.tick reach the console batched as
 * protection.tick, a named checkpoint is confirmed at the recovery site, and removing the VPG
 * takes it out of the estate. Every wait has a deadline: a missing agent feature fails with
 * its reason, never hangs.
 */

const GIB = 2 ** 30;
const LINK_TIMEOUT_MS = 20_000;
/** Initial sync of the VMs' disks, then the first checkpoint confirmed at the recovery site. */
const PROTECTING_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 150_000;

interface Side {
  init: InitializedAgent;
  agent: RunningAgent;
  siteId: string;
}

let core: ConsoleCore;
let hq: Side;
let rdc: Side;
let created: VpgView | undefined;

/** Through the ConsoleApi handlers, as the renderer calls them. */
function call<M extends keyof ConsoleMethods & string>(
  method: M,
  params: ParamsIn<ConsoleMethods, M>,
): Promise<ResultOut<ConsoleMethods, M>> {
  return consoleCall(core, method, params);
}

function theVpg(): VpgView {
  return created ?? assert.fail('no VPG was created (see the first failing test)');
}

/** The first protection.tick (or kept tick) for the VPG that satisfies `predicate`. */
function untilTick(
  vpgId: string,
  predicate: (t: ProtectionTick) => boolean,
  what: string,
  timeoutMs: number,
): Promise<ProtectionTick> {
  const kept = core.protectionTicks().ticks.find((t) => t.vpgId === vpgId && predicate(t));
  if (kept) return Promise.resolve(kept);
  return new Promise((resolve, reject) => {
    let last: ProtectionTick | undefined;
    const timer = setTimeout(() => {
      core.events.off('protection.tick', listener);
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; last tick: ${JSON.stringify(last)}`,
        ),
      );
    }, timeoutMs);
    const listener = (p: ProtectionTicks): void => {
      const t = p.ticks.find((x) => x.vpgId === vpgId);
      if (t === undefined) return;
      last = t;
      if (!predicate(t)) return;
      clearTimeout(timer);
      core.events.off('protection.tick', listener);
      resolve(t);
    };
    core.events.on('protection.tick', listener);
  });
}

/** Polls `check` every 500 ms until it holds; fails after timeoutMs naming `what`. */
async function until(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function vpgListOf(side: Side): Promise<VpgState[]> {
  const client = await connectRaw(side.agent.url, {
    token: side.init.token,
    fingerprint: side.init.fingerprint,
  });
  try {
    await client.hello();
    return await client.result<VpgState[]>('vpg.list');
  } finally {
    await client.close();
  }
}

function settingsFor(name: string): VpgSettings {
  const snap = core.snapshot();
  const vms = snap.vms.filter((v) => v.siteId === hq.siteId && v.powerState === 'running');
  assert.ok(vms.length >= 2, `Headquarters should run two VMs: ${JSON.stringify(snap.vms)}`);
  const host = snap.hosts.find((h) => h.siteId === rdc.siteId) ?? assert.fail('no recovery host');
  const datastore = host.datastores[0] ?? assert.fail('no datastore at the recovery host');
  return {
    name,
    vmIds: vms.slice(0, 2).map((v) => v.vmId),
    recoverySiteId: rdc.siteId,
    recoveryHostId: host.hostId,
    recoveryDatastore: datastore.name,
    journal: { historySeconds: 3600, hardLimitBytes: 4 * GIB, warningBytes: 3 * GIB },
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 30,
  };
}

describe('console core: VPGs, live RPO and checkpoints through real agents', () => {
  before(
    async () => {
      const [hqInit, rdcInit] = await Promise.all([
        initAgent({ site: 'Headquarters' }),
        initAgent({ site: 'Recovery DC' }),
      ]);
      const [hqAgent, rdcAgent] = await Promise.all([
        startAgent({ dataDir: hqInit.dataDir }),
        startAgent({ dataDir: rdcInit.dataDir }),
      ]);
      core = new ConsoleCore({
        settings: openNodeSettings(await makeTempDir('tl-console-protection-')),
        mode: 'browser',
        backoff: { initialMs: 100, maxMs: 400 },
        coalesceMs: 10,
        callTimeoutMs: 30_000,
      });
      core.start();
      const sides: Side[] = [];
      for (const [init, agent] of [
        [hqInit, hqAgent],
        [rdcInit, rdcAgent],
      ] as const) {
        const view = await core.addAgent({
          address: agent.address,
          token: init.token,
          fingerprint: init.fingerprint,
        });
        sides.push({ init, agent, siteId: view.identity?.siteId ?? assert.fail('no site') });
      }
      [hq, rdc] = sides as [Side, Side];
      await core.pairSites(hq.siteId, rdc.siteId);
      await untilEstate(
        core,
        (s) => s.pairings[0]?.link === 'connected',
        'the sites’ link to be connected',
        LINK_TIMEOUT_MS,
      );
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await core?.stop();
    await cleanupAgents();
  });

  it('has no VPGs before one is created', () => {
    assert.deepEqual(core.snapshot().vpgs, []);
  });

  it('refuses a VPG that recovers to its own site, naming it', async () => {
    const settings = { ...settingsFor('Loop'), recoverySiteId: hq.siteId };
    await assert.rejects(
      call('vpgs.create', { siteId: hq.siteId, settings }),
      isError('INVALID_PARAMS', 'Headquarters'),
    );
  });

  it(
    'creates a VPG of two Headquarters VMs: the estate shows it once, from the protected site',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const settings = settingsFor('Finance');
      const vpg = await call('vpgs.create', { siteId: hq.siteId, settings });
      created = vpg;
      assert.equal(vpg.name, 'Finance');
      assert.equal(vpg.role, 'source');
      assert.equal(vpg.siteId, hq.siteId);
      assert.equal(vpg.protectedSiteId, hq.siteId);
      assert.equal(vpg.recoverySiteId, rdc.siteId);
      assert.deepEqual([...vpg.vmIds].sort(), [...settings.vmIds].sort());
      assert.equal(vpg.protectedSiteOffline, false);

      const snap = await untilEstate(
        core,
        (s) => s.vpgs.some((v) => v.vpgId === vpg.vpgId),
        'the VPG in the estate',
      );
      assert.equal(snap.vpgs.length, 1, 'once, though both sites list it');
      assert.equal(snap.vpgs[0]?.role, 'source');

      const atRecovery = await vpgListOf(rdc);
      assert.deepEqual(
        atRecovery.map((v) => [v.vpgId, v.role]),
        [[vpg.vpgId, 'target']],
        'the recovery site’s agent knows it as the target',
      );
    },
  );

  it(
    'forwards the agents’ rpo.tick as protection.tick, and keeps the latest for a new page',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const vpg = theVpg();
      const first = await untilTick(vpg.vpgId, () => true, 'a first tick', 15_000);
      assert.equal(first.rpoTargetSeconds, 30);
      assert.equal(first.journalHardLimitBytes, 4 * GIB);
      const measured = await untilTick(
        vpg.vpgId,
        (t) => t.rpoSeconds !== undefined && t.status === 'Protecting',
        'the VPG to protect with a measured RPO',
        PROTECTING_TIMEOUT_MS,
      );
      assert.ok((measured.rpoSeconds ?? Infinity) < 30, `RPO ${measured.rpoSeconds} s`);
      const kept = (await call('protection.ticks', {})).ticks.find((t) => t.vpgId === vpg.vpgId);
      assert.ok(kept, 'protection.ticks has the VPG');
      assert.ok(kept.time >= measured.time);

      // Batched: over three seconds, at most about one protection.tick a second.
      let count = 0;
      const listener = (): void => void (count += 1);
      core.events.on('protection.tick', listener);
      await new Promise((r) => setTimeout(r, 3_000));
      core.events.off('protection.tick', listener);
      assert.ok(count >= 1 && count <= 4, `${count} protection.tick in 3 s`);
    },
  );

  it(
    'raises a VM’s simulated load through workloads.set: the VPG’s written bytes follow',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const vpg = theVpg();
      const vmId = vpg.vmIds[0] ?? assert.fail('no VM');
      const status = await call('workloads.set', {
        siteId: hq.siteId,
        vmId,
        bytesPerSecond: 2 * 2 ** 20,
      });
      assert.equal(status.vmId, vmId);
      assert.equal(status.bytesPerSecond, 2 * 2 ** 20);
      await untilTick(vpg.vpgId, (t) => t.writtenBytesPerSecond > 0, 'written bytes', 20_000);
    },
  );

  it(
    'inserts a named checkpoint and follows it until the recovery site confirms it',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const vpg = theVpg();
      const inserted = await call('checkpoints.insert', {
        siteId: vpg.siteId,
        vpgId: vpg.vpgId,
        name: 'before-upgrade',
      });
      assert.equal(inserted.name, 'before-upgrade');
      assert.ok(inserted.seq > 0);
      const confirmed: CheckpointInfo = await call('checkpoints.waitFor', {
        siteId: vpg.siteId,
        vpgId: vpg.vpgId,
        seq: inserted.seq,
        timeoutMs: 60_000,
      });
      assert.equal(confirmed.confirmed, true);
      assert.equal(confirmed.seq, inserted.seq);
      assert.equal(confirmed.name, 'before-upgrade');

      const list = await call('checkpoints.list', { siteId: vpg.siteId, vpgId: vpg.vpgId });
      const listed = list.find((c) => c.seq === inserted.seq);
      assert.ok(listed, 'checkpoints.list has it');
      assert.equal(listed.name, 'before-upgrade');
      assert.equal(listed.confirmed, true);
      assert.ok(
        list.some((c) => c.name === undefined),
        'and automatic ones',
      );
      const seqs = list.map((c) => c.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'oldest first',
      );
    },
  );

  it('passes an agent’s refusal through: a checkpoint of a VPG it does not know', async () => {
    await assert.rejects(
      call('checkpoints.insert', { siteId: hq.siteId, vpgId: 'no-such-vpg', name: 'x' }),
      isError('NOT_FOUND', 'Headquarters'),
    );
  });

  it(
    'removes the VPG: gone from the estate, from both agents and from the ticks',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const vpg = theVpg();
      assert.deepEqual(await call('vpgs.remove', { siteId: vpg.siteId, vpgId: vpg.vpgId }), {
        removed: true,
      });
      await untilEstate(core, (s) => s.vpgs.length === 0, 'the VPG to leave the estate', 30_000);
      assert.deepEqual(
        core.protectionTicks().ticks.filter((t) => t.vpgId === vpg.vpgId),
        [],
      );
      assert.deepEqual(await vpgListOf(hq), []);
      await until(async () => (await vpgListOf(rdc)).length === 0, 'the recovery site to drop it');
    },
  );

  it(
    'with Headquarters offline, shows the VPG once, as Recovery DC reports it, marked as such',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const vpg = await call('vpgs.create', {
        siteId: hq.siteId,
        settings: settingsFor('Billing'),
      });
      await until(
        async () => (await vpgListOf(rdc)).some((v) => v.vpgId === vpg.vpgId),
        'the recovery site to know the VPG',
      );
      const hqAddress = hq.agent.address;
      await hq.agent.stop();
      const snap = await untilEstate(
        core,
        (s) => s.vpgs[0]?.role === 'target',
        'the recovery site’s view of the VPG',
        30_000,
      );
      assert.equal(snap.vpgs.length, 1, 'still once');
      const [seen] = snap.vpgs;
      assert.equal(seen?.vpgId, vpg.vpgId);
      assert.equal(seen?.siteId, rdc.siteId);
      assert.equal(seen?.protectedSiteOffline, true);
      assert.equal(seen?.live, true);
      assert.ok(snap.agents.some((a) => a.address === hqAddress && a.state !== 'connected'));
      await assert.rejects(
        call('checkpoints.insert', { siteId: hq.siteId, vpgId: vpg.vpgId, name: 'x' }),
        isError('UNAVAILABLE', 'Headquarters'),
      );
    },
  );
});
