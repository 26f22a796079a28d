import assert from 'node:assert/strict';
import { isError } from '../helpers/console-call';
import { after, before, describe, it } from 'node:test';
import {
  SitePairingSchema,
  type EstateSnapshot,
  type LinkCompression,
  type Peer,
  type SitePairing,
  type SitesUnpairResult,
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

/** Two real agents (Headquarters, Recovery DC) and the console core connected to both. */
interface Lab {
  core: ConsoleCore;
  hq: { init: InitializedAgent; agent: RunningAgent; siteId: string };
  rdc: { init: InitializedAgent; agent: RunningAgent; siteId: string };
}

const LINK_TIMEOUT_MS = 20_000;

async function peersOf(agent: RunningAgent, init: InitializedAgent): Promise<Peer[]> {
  const client = await connectRaw(agent.url, { token: init.token, fingerprint: init.fingerprint });
  try {
    await client.hello();
    return await client.result<Peer[]>('site.peers');
  } finally {
    await client.close();
  }
}

const pairingOf = (s: EstateSnapshot): SitePairing | undefined => s.pairings[0];
const siteConnected = (s: EstateSnapshot, address: string): boolean =>
  s.agents.some((a) => a.address === address && a.state === 'connected');

/** Through the ConsoleApi handlers, as the renderer calls them. */
async function pair(siteId: string, peerSiteId: string): Promise<SitePairing> {
  return SitePairingSchema.parse(
    await lab.core.handlers['sites.pair']({ siteId, peerSiteId }, undefined),
  );
}
async function compress(
  siteId: string,
  peerSiteId: string,
  compression: LinkCompression,
): Promise<SitePairing> {
  return SitePairingSchema.parse(
    await lab.core.handlers['sites.setLinkCompression'](
      { siteId, peerSiteId, compression },
      undefined,
    ),
  );
}
async function unpair(siteId: string, peerSiteId: string): Promise<SitesUnpairResult> {
  return lab.core.handlers['sites.unpair']({ siteId, peerSiteId }, undefined);
}

let lab: Lab;

describe('console core pairs and unpairs sites through real agents', () => {
  before(async () => {
    const [hqInit, rdcInit] = await Promise.all([
      initAgent({ site: 'Headquarters' }),
      initAgent({ site: 'Recovery DC' }),
    ]);
    const [hqAgent, rdcAgent] = await Promise.all([
      startAgent({ dataDir: hqInit.dataDir }),
      startAgent({ dataDir: rdcInit.dataDir }),
    ]);
    const core = new ConsoleCore({
      settings: openNodeSettings(await makeTempDir('tl-console-pairing-')),
      mode: 'browser',
      backoff: { initialMs: 100, maxMs: 400 },
      coalesceMs: 10,
    });
    core.start();
    const siteIds: string[] = [];
    for (const [init, agent] of [
      [hqInit, hqAgent],
      [rdcInit, rdcAgent],
    ] as const) {
      const view = await core.addAgent({
        address: agent.address,
        token: init.token,
        fingerprint: init.fingerprint,
      });
      assert.equal(view.state, 'connected');
      siteIds.push(view.identity?.siteId ?? assert.fail('no site'));
    }
    const siteIdOf = (i: number): string => siteIds[i] ?? assert.fail('no site');
    lab = {
      core,
      hq: { init: hqInit, agent: hqAgent, siteId: siteIdOf(0) },
      rdc: { init: rdcInit, agent: rdcAgent, siteId: siteIdOf(1) },
    };
  });

  after(async () => {
    await lab?.core.stop();
    await cleanupAgents();
  });

  it('has no pairings before the sites are paired', () => {
    const snap = lab.core.snapshot();
    assert.equal(snap.sites.length, 2);
    assert.deepEqual(snap.pairings, []);
  });

  it('refuses to pair a site with itself', async () => {
    await assert.rejects(
      pair(lab.hq.siteId, lab.hq.siteId),
      isError('INVALID_PARAMS', 'Headquarters', 'two different sites'),
    );
  });

  it('refuses to unpair sites that are not paired', async () => {
    await assert.rejects(
      unpair(lab.hq.siteId, lab.rdc.siteId),
      isError('NOT_FOUND', 'Headquarters', 'Recovery DC', 'not paired'),
    );
  });

  it('pairs Headquarters with Recovery DC: the estate shows the pair connected on both sides', async () => {
    const result = await pair(lab.hq.siteId, lab.rdc.siteId);
    assert.equal(result.siteId, lab.hq.siteId);
    assert.equal(result.peerSiteId, lab.rdc.siteId);
    assert.equal(result.siteName, 'Headquarters');
    assert.equal(result.peerSiteName, 'Recovery DC');
    assert.ok(Math.abs(result.pairedAt - Date.now()) < 60_000, `pairedAt ${result.pairedAt}`);

    const snap = await untilEstate(
      lab.core,
      (s) => pairingOf(s)?.link === 'connected',
      'the pairing to be connected',
      LINK_TIMEOUT_MS,
    );
    assert.equal(snap.pairings.length, 1, 'one entry per pair of sites');
    const [pairing] = snap.pairings;
    assert.deepEqual(
      [pairing?.siteName, pairing?.peerSiteName],
      ['Headquarters', 'Recovery DC'],
      'ordered by site name',
    );
    assert.deepEqual([pairing?.siteId, pairing?.peerSiteId], [lab.hq.siteId, lab.rdc.siteId]);

    const [hqPeers, rdcPeers] = await Promise.all([
      peersOf(lab.hq.agent, lab.hq.init),
      peersOf(lab.rdc.agent, lab.rdc.init),
    ]);
    assert.deepEqual(
      hqPeers.map((p) => [p.siteId, p.siteName, p.link]),
      [[lab.rdc.siteId, 'Recovery DC', 'connected']],
    );
    assert.deepEqual(
      rdcPeers.map((p) => [p.siteId, p.siteName, p.link]),
      [[lab.hq.siteId, 'Headquarters', 'connected']],
    );
  });

  it('passes an agent’s refusal through: the sites are already paired', async () => {
    await assert.rejects(
      pair(lab.hq.siteId, lab.rdc.siteId),
      isError('ALREADY_EXISTS', 'Recovery DC', 'Headquarters', 'lready paired'),
    );
    assert.equal(lab.core.snapshot().pairings.length, 1, 'the pairing is untouched');
  });

  it('compresses both ways: each site’s agent sends with lz4, and the estate says so', async () => {
    const on = await compress(lab.rdc.siteId, lab.hq.siteId, 'lz4');
    assert.equal(on.compression, 'lz4');
    assert.equal(pairingOf(lab.core.snapshot())?.compression, 'lz4');
    const [hqPeers, rdcPeers] = await Promise.all([
      peersOf(lab.hq.agent, lab.hq.init),
      peersOf(lab.rdc.agent, lab.rdc.init),
    ]);
    assert.deepEqual(
      [...hqPeers, ...rdcPeers].map((p) => p.compression),
      ['lz4', 'lz4'],
    );
    await assert.rejects(
      compress(lab.hq.siteId, lab.hq.siteId, 'off'),
      isError('INVALID_PARAMS', 'itself'),
    );
    const off = await compress(lab.hq.siteId, lab.rdc.siteId, 'off');
    assert.equal(off.compression, 'off');
    assert.deepEqual(
      (await peersOf(lab.hq.agent, lab.hq.init)).map((p) => p.compression),
      ['off'],
    );
  });

  it('unpairs both sides: the pairing is gone from the estate and from both agents', async () => {
    const result = await unpair(lab.rdc.siteId, lab.hq.siteId);
    assert.deepEqual([...result.unpaired].sort(), [lab.hq.siteId, lab.rdc.siteId].sort());
    assert.deepEqual(result.unreachable, []);
    assert.match(result.message, /no longer paired/);
    await untilEstate(lab.core, (s) => s.pairings.length === 0, 'the pairing to go');
    assert.deepEqual(await peersOf(lab.hq.agent, lab.hq.init), []);
    assert.deepEqual(await peersOf(lab.rdc.agent, lab.rdc.init), []);
  });

  it('with Recovery DC offline: pairing is refused naming it; unpairing does the reachable side and says so', async () => {
    await pair(lab.hq.siteId, lab.rdc.siteId);
    await untilEstate(
      lab.core,
      (s) => pairingOf(s)?.link === 'connected',
      'the new pairing to be connected',
      LINK_TIMEOUT_MS,
    );

    const rdcAddress = lab.rdc.agent.address;
    await lab.rdc.agent.stop();
    await untilEstate(lab.core, (s) => !siteConnected(s, rdcAddress), 'Recovery DC to go offline');
    const seenFromHq = await untilEstate(
      lab.core,
      (s) => pairingOf(s) !== undefined && pairingOf(s)?.link !== 'connected',
      'Headquarters to report the link down',
      LINK_TIMEOUT_MS,
    );
    assert.equal(seenFromHq.pairings.length, 1, 'the reachable side still reports the pairing');

    await assert.rejects(
      pair(lab.hq.siteId, lab.rdc.siteId),
      isError('UNAVAILABLE', 'Recovery DC', 'connected'),
    );

    const result = await unpair(lab.hq.siteId, lab.rdc.siteId);
    assert.deepEqual(result.unpaired, [lab.hq.siteId]);
    assert.deepEqual(result.unreachable, [lab.rdc.siteId]);
    assert.ok(result.message.includes('Recovery DC'), result.message);
    assert.match(result.message, /unpair again/);
    await untilEstate(lab.core, (s) => s.pairings.length === 0, 'the pairing to go');
    assert.deepEqual(await peersOf(lab.hq.agent, lab.hq.init), []);

    // Back online, Recovery DC still lists Headquarters. As the dialing side of the link (the
    // smaller agent id) it is refused as not paired and forgets Headquarters by itself; as the
    // accepting side it keeps the stale pairing until it is unpaired again.
    lab.rdc.agent = await startAgent({
      dataDir: lab.rdc.init.dataDir,
      listen: rdcAddress,
      replicationListen: '127.0.0.1:0',
    });
    const back = await untilEstate(
      lab.core,
      (s) => siteConnected(s, rdcAddress),
      'Recovery DC to come back',
      LINK_TIMEOUT_MS,
    );
    const agentIdOf = (address: string): string =>
      back.agents.find((a) => a.address === address)?.identity?.agentId ?? assert.fail(address);
    if (agentIdOf(rdcAddress) < agentIdOf(lab.hq.agent.address)) {
      await untilEstate(lab.core, (s) => s.pairings.length === 0, 'Recovery DC to forget it');
    } else {
      const stale = await untilEstate(
        lab.core,
        (s) => s.pairings.length === 1,
        'Recovery DC to report its stale pairing',
      );
      assert.notEqual(pairingOf(stale)?.link, 'connected');
      const again = await unpair(lab.hq.siteId, lab.rdc.siteId);
      assert.deepEqual(again.unreachable, []);
      await untilEstate(lab.core, (s) => s.pairings.length === 0, 'the stale pairing to go');
    }
    assert.deepEqual(await peersOf(lab.rdc.agent, lab.rdc.init), []);
  });
});
