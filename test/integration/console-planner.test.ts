import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTidelineError } from '../../app/errors';
import { linkPlanInput, planLink } from '../../app/planner';
import type { Policy } from '../../app/policy/policy-schemas';
import { PeerSchema, type VpgState } from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents } from '../helpers/agents';
import { consoleCall } from '../helpers/console-call';
import {
  call as callAgent,
  createVpg,
  isStatus,
  pairedSites,
  setWorkload,
  startSite,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * planner.context against real agents: the protected site's agent holds a week of measured
 * minutes for its VPG (written to its metrics file while it is stopped, as a week of running
 * would have), and a link policy. The console fetches the link's VPGs, policies and rates,
 * keeps them beside its settings, and serves them with the agent down, also after a console
 * restart. The planner, fed what was fetched, finds the business hours missed at the link's
 * limit and the least bandwidth that holds them.
 */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const BUSY = 4_000_000;
const QUIET = 500_000;
/** A stretch the agent kept no minute of (it was down): null in the history. */
const GAP_HOURS = 3;

let hq: Site;
let dr: Site;
let vpg: VpgState;
let dir: string;
let gapStart: number;
let busyMinute: number;

const businessPolicy = (bits: number): Policy => ({
  schemaVersion: 2,
  version: 0,
  timeZone: 'UTC',
  default: { rpoTargetSeconds: 600 },
  timeframes: [
    {
      id: 'business',
      name: 'Business hours',
      colour: '#1e88e5',
      days: [1, 2, 3, 4, 5],
      start: '09:00',
      end: '17:00',
      rpoTargetSeconds: 300,
      replicationBitsPerSecond: bits,
    },
  ],
  exceptions: [],
});

function rateAt(time: number): number {
  const hour = new Date(time).getUTCHours();
  const day = new Date(time).getUTCDay();
  return day >= 1 && day <= 5 && hour >= 9 && hour < 17 ? BUSY : QUIET;
}

/** A week of minute lines, as the agent appends them, with a gap of GAP_HOURS. */
function writeWeek(path: string, now: number): void {
  const last = Math.floor(now / MINUTE) * MINUTE - MINUTE;
  const first = last - 7 * DAY + 2 * MINUTE;
  gapStart = first + 2 * DAY;
  const lines: string[] = [];
  for (let t = first; t <= last; t += MINUTE) {
    if (t >= gapStart && t < gapStart + GAP_HOURS * 60 * MINUTE) continue;
    const rate = rateAt(t);
    if (rate === BUSY && busyMinute === undefined) busyMinute = t;
    lines.push(
      JSON.stringify({
        time: t,
        rpoSeconds: 2,
        rpoTargetSeconds: 10,
        writtenBytesPerSecond: rate,
        sentBytesPerSecond: rate,
        backlogBytes: 0,
        journalBytes: 0,
        seconds: 60,
      }),
    );
  }
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${lines.join('\n')}\n`);
}

function newCore(): ConsoleCore {
  const core = new ConsoleCore({
    settings: openNodeSettings(dir),
    mode: 'browser',
    connectTimeoutMs: 5000,
    callTimeoutMs: 10_000,
  });
  core.seed([
    { address: hq.agent.address, token: hq.creds.token, fingerprint: hq.creds.fingerprint },
  ]);
  return core;
}

async function untilConnected(core: ConsoleCore): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (core.snapshot().agents[0]?.state !== 'connected') {
    assert.ok(Date.now() < deadline, 'the console connected to the agent');
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tl-console-planner-'));
  [hq, dr] = await pairedSites();
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vpg = await createVpg(hq, dr, { name: 'File server', vmIds: [vm.vmId] });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting', 60_000);
  await callAgent(hq, 'policy.set', {
    target: { kind: 'link', peerAgentId: dr.agentId },
    policy: businessPolicy(16_000_000),
  });
  await stopSite(hq);
  writeWeek(join(hq.creds.dataDir, 'state', 'metrics', `${vpg.vpgId}.ndjson`), Date.now());
  await startSite(hq);
});
after(async () => {
  await cleanupAgents();
  rmSync(dir, { recursive: true, force: true });
});

describe('planner.context from a real agent', { timeout: 120_000 }, () => {
  it('fetches the link’s VPGs, policy and a week of rates; kept and served with the agent down', async () => {
    const core = newCore();
    core.start();
    let restarted: ConsoleCore | undefined;
    try {
      await untilConnected(core);
      const link = { kind: 'link', peerAgentId: dr.agentId } as const;
      const context = await consoleCall(core, 'planner.context', {
        agentId: hq.agentId,
        target: link,
      });
      assert.equal(context.source, 'agent');
      assert.equal(context.linkName, 'Link Headquarters → Recovery DC');
      assert.equal(context.linkPolicy?.version, 1);
      assert.deepEqual(
        context.vpgs.map((v) => [v.vpgId, v.name, v.rpoTargetSeconds, v.checkpointIntervalSeconds]),
        [[vpg.vpgId, 'File server', 10, 2]],
      );
      const history = context.vpgs[0]?.history ?? assert.fail('no history');
      const at = (t: number) => history.rates[(t - history.from) / MINUTE];
      assert.equal(at(busyMinute), BUSY, 'a business-hours minute as the agent measured it');
      assert.equal(at(gapStart + MINUTE), null, 'a minute the agent kept nothing of');
      const known = history.rates.filter((r) => r !== null).length;
      assert.ok(known >= 7 * 24 * 60 - GAP_HOURS * 60 - 3, `minutes known: ${known}`);

      // The VPG target plans the same link.
      const viaVpg = await consoleCall(core, 'planner.context', {
        agentId: hq.agentId,
        target: { kind: 'vpg', vpgId: vpg.vpgId },
      });
      assert.equal(viaVpg.peerAgentId, dr.agentId);

      // The planner from what was fetched: 4 MB/s in business hours over a 16 Mbit/s link
      // misses the 5 min target. The least bandwidth lets the oldest byte age by at most the
      // target less the checkpoint interval over the 8 hours: 32 Mbit/s × (1 − 298 s / 8 h).
      const now = Date.now();
      const planned = linkPlanInput({ context, now });
      assert.ok((planned.measuredMinutes[vpg.vpgId] ?? 0) >= 7 * 24 * 60 - GAP_HOURS * 60 - 3);
      const plan = planLink(planned.input);
      const business = plan.vpgs[0]?.timeframes.find((t) => t.frame.timeframeId === 'business');
      assert.equal(business?.verdict, 'missed');
      const least = plan.bandwidth.find((b) => b.frame.timeframeId === 'business');
      const bits = least?.leastBitsPerSecond ?? assert.fail('no least bandwidth');
      const expected = 32e6 * (1 - 298 / (8 * 3600));
      assert.ok(Math.abs(bits / expected - 1) < 0.01, `least bandwidth ${bits}, not ${expected}`);
      const fixed = planLink(
        linkPlanInput({
          context,
          draft: { target: link, policy: businessPolicy(Math.ceil(bits / 1e6) * 1e6) },
          now,
        }).input,
      );
      const after = fixed.vpgs[0]?.timeframes.find((t) => t.frame.timeframeId === 'business');
      assert.equal(after?.verdict, 'met', 'the suggested bandwidth holds the target');

      // The agent goes down: the console plans from what it kept, and says how old it is.
      await stopSite(hq);
      const cached = await consoleCall(core, 'planner.context', {
        agentId: hq.agentId,
        target: link,
      });
      assert.equal(cached.source, 'cache');
      assert.equal(cached.fetchedAt, context.fetchedAt);
      assert.deepEqual(cached.vpgs, context.vpgs);

      // Also after a console restart: the cache is a file beside the settings.
      await core.stop();
      restarted = newCore();
      restarted.start();
      const kept = await consoleCall(restarted, 'planner.context', {
        agentId: hq.agentId,
        target: { kind: 'vpg', vpgId: vpg.vpgId },
      });
      assert.equal(kept.source, 'cache');
      assert.equal(kept.vpgs[0]?.history.rates.length, history.rates.length);

      // Nothing kept and no agent: a clear refusal.
      await assert.rejects(
        consoleCall(restarted, 'planner.context', {
          agentId: hq.agentId,
          target: { kind: 'link', peerAgentId: 'no-such-agent' },
        }),
        (err: unknown) =>
          isTidelineError(err) && err.code === 'NOT_FOUND' && /synthetic profile/.test(err.message),
      );
    } finally {
      await restarted?.stop();
      await core.stop();
    }
  });

  it('plans a compressing link on the share of the writes it puts on the wire', async () => {
    await startSite(hq);
    const core = newCore();
    core.start();
    try {
      await untilConnected(core);
      await callAgent(hq, 'site.setLinkCompression', {
        agentId: dr.agentId,
        compression: 'lz4',
      });
      // Text compresses to about half: 24 MiB of it, more than the 16 MiB measured first.
      const vm = (await vms(hq))[0] ?? assert.fail('no VM');
      await setWorkload(hq, vm.vmId, 8 * 1024 * 1024, { content: 'text' });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const peer = PeerSchema.array()
          .parse(await callAgent(hq, 'site.peers', {}))
          .find((p) => p.agentId === dr.agentId);
        if ((peer?.traffic?.recordBytes ?? 0) > 24 * 1024 * 1024) break;
        assert.ok(Date.now() < deadline, 'the link carried 24 MiB of records within a minute');
        await new Promise((r) => setTimeout(r, 500));
      }
      await setWorkload(hq, vm.vmId, 0);
      const context = await consoleCall(core, 'planner.context', {
        agentId: hq.agentId,
        target: { kind: 'link', peerAgentId: dr.agentId },
        refresh: true,
      });
      const share = context.wireShare ?? assert.fail('a compressing link has a wire share');
      assert.ok(share > 0.2 && share < 0.7, `text on the wire at ${share}`);

      // The same writes need `share` of the bandwidth (the model is linear in bytes), and
      // the journal is sized on what is written.
      const now = Date.now();
      const plan = planLink(linkPlanInput({ context, now }).input);
      const plain = planLink(linkPlanInput({ context: { ...context, wireShare: 1 }, now }).input);
      const least = (p: typeof plan): number =>
        p.bandwidth.find((b) => b.frame.timeframeId === 'business')?.leastBitsPerSecond ??
        assert.fail('no least bandwidth');
      assert.ok(
        Math.abs(least(plan) / (least(plain) * share) - 1) < 0.015, // each within 0.5 %
        `least bandwidth ${least(plan)}, not ${share} × ${least(plain)}`,
      );
      assert.equal(plan.vpgs[0]?.journal?.neededBytes, plain.vpgs[0]?.journal?.neededBytes);

      // Uncompressed again: planned on the writes as they are.
      await callAgent(hq, 'site.setLinkCompression', {
        agentId: dr.agentId,
        compression: 'off',
      });
      const off = await consoleCall(core, 'planner.context', {
        agentId: hq.agentId,
        target: { kind: 'link', peerAgentId: dr.agentId },
        refresh: true,
      });
      assert.equal(off.wireShare, undefined);
    } finally {
      await core.stop();
    }
  });
});
