import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Peer, PeerLinkState } from '../../app/protocol';
import { mergePairings, worstLink } from '../../main/services/estate/pairings';
import { buildSnapshot } from '../../main/services/estate/snapshot';
import { groupBySite } from '../../renderer/lib/estate-groups';
import { findPairing } from '../../app/estate/pairings';
import { pairedWith, pairingLabel } from '../../renderer/lib/pairings';
import { agentView } from '../helpers/agent-views';

const FP = Array.from({ length: 32 }, () => 'AB').join(':');

function peer(siteId: string, siteName: string, link: PeerLinkState, pairedAt = 1000): Peer {
  return {
    agentId: `agent-${siteId}-${pairedAt}`,
    siteId,
    siteName,
    address: '127.0.0.1:7444',
    fingerprint: FP,
    pairedAt,
    compression: 'off',
    link,
    ...(link === 'connected' ? {} : { lastError: `${siteName} is unreachable` }),
  };
}

const view = agentView;

const names = new Map([
  ['hq', 'Headquarters'],
  ['rdc', 'Recovery DC'],
]);

describe('site pairings in the estate', () => {
  it('worst link state wins: disconnected over connecting over connected', () => {
    assert.equal(worstLink('connected', 'connecting'), 'connecting');
    assert.equal(worstLink('disconnected', 'connecting'), 'disconnected');
    assert.equal(worstLink('connected', 'connected'), 'connected');
  });

  it('one entry per pair of sites, ordered by name, worst link and earliest pairing time', () => {
    const pairings = mergePairings(
      [
        { siteId: 'rdc', peers: [peer('hq', 'HQ (old name)', 'connected', 2000)] },
        { siteId: 'hq', peers: [peer('rdc', 'Recovery DC', 'connecting', 1500)] },
      ],
      names,
    );
    assert.deepEqual(pairings, [
      {
        siteId: 'hq',
        peerSiteId: 'rdc',
        siteName: 'Headquarters',
        peerSiteName: 'Recovery DC',
        link: 'connecting',
        lastError: 'Recovery DC is unreachable',
        pairedAt: 1500,
        compression: 'off',
      },
    ]);
  });

  it('compression: lz4 when every agent of both sides sends with it, mixed when some do', () => {
    const lz4 = (p: Peer, recordBytes: number, wireBytes: number): Peer => ({
      ...p,
      compression: 'lz4',
      traffic: { recordBytes, wireBytes },
    });
    const both = mergePairings(
      [
        { siteId: 'rdc', peers: [lz4(peer('hq', 'Headquarters', 'connected'), 1000, 600)] },
        { siteId: 'hq', peers: [lz4(peer('rdc', 'Recovery DC', 'connected'), 3000, 1000)] },
      ],
      names,
    );
    assert.equal(both[0]?.compression, 'lz4');
    assert.equal(both[0]?.wireShare, 0.4, 'all wire bytes over all record bytes');
    const oneWay = mergePairings(
      [
        { siteId: 'rdc', peers: [peer('hq', 'Headquarters', 'connected')] },
        { siteId: 'hq', peers: [lz4(peer('rdc', 'Recovery DC', 'connected'), 10, 5)] },
      ],
      names,
    );
    assert.equal(oneWay[0]?.compression, 'mixed');
    const none = mergePairings(
      [{ siteId: 'hq', peers: [peer('rdc', 'Recovery DC', 'connected')] }],
      names,
    );
    assert.equal(none[0]?.compression, 'off');
    assert.equal(none[0]?.wireShare, undefined, 'no traffic reported, no share');
  });

  it('names a site the console does not know as its peer record does; skips same-site peers', () => {
    const pairings = mergePairings(
      [
        {
          siteId: 'hq',
          peers: [peer('far', 'Far Away', 'disconnected'), peer('hq', 'Headquarters', 'connected')],
        },
      ],
      names,
    );
    assert.deepEqual(
      pairings.map((p) => [p.siteName, p.peerSiteName, p.link]),
      [['Far Away', 'Headquarters', 'disconnected']],
    );
  });

  it('the snapshot takes pairings from connected agents only (a lost agent’s links are stale)', () => {
    const inventory = (peers: Peer[]) => ({ hosts: [], vms: [], peers });
    const both = buildSnapshot([
      { view: view('a', 'hq'), inventory: inventory([peer('rdc', 'Recovery DC', 'connected')]) },
      { view: view('b', 'rdc'), inventory: inventory([peer('hq', 'Headquarters', 'connected')]) },
    ]);
    assert.deepEqual(
      both.pairings.map((p) => [p.siteId, p.peerSiteId, p.link]),
      [['hq', 'rdc', 'connected']],
    );
    const oneLost = buildSnapshot([
      { view: view('a', 'hq', false), inventory: inventory([peer('rdc', 'RDC', 'connected')]) },
      { view: view('b', 'rdc'), inventory: inventory([peer('hq', 'HQ', 'disconnected')]) },
    ]);
    assert.deepEqual(
      oneLost.pairings.map((p) => p.link),
      ['disconnected'],
    );
    const unknownPeers = buildSnapshot([
      { view: view('a', 'hq'), inventory: { hosts: [], vms: [] } },
    ]);
    assert.deepEqual(unknownPeers.pairings, []);
  });

  it('the renderer finds a pairing in either order and lists each site’s partners', () => {
    const snapshot = buildSnapshot([
      {
        view: view('a', 'hq'),
        inventory: { hosts: [], vms: [], peers: [peer('rdc', 'Recovery DC', 'connected')] },
      },
      { view: view('b', 'rdc'), inventory: { hosts: [], vms: [], peers: [] } },
    ]);
    const [pairing] = snapshot.pairings;
    assert.ok(pairing);
    assert.equal(findPairing(snapshot.pairings, 'rdc', 'hq'), pairing);
    assert.equal(findPairing(snapshot.pairings, 'hq', 'hq'), undefined);
    // The console's own site names win over the names in peer records.
    assert.equal(pairingLabel(pairing), 'hq ⇄ rdc');
    assert.deepEqual(pairedWith(snapshot.pairings, 'rdc'), ['hq']);
    assert.deepEqual(
      groupBySite(snapshot).map((g) => [g.key, g.pairedWith]),
      [
        ['hq', ['rdc']],
        ['rdc', ['hq']],
      ],
    );
  });
});
