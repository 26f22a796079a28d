import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentView } from '../../app/protocol';
import { buildSnapshot } from '../../main/services/estate/snapshot';

const FP = Array.from({ length: 32 }, () => 'AA').join(':');
const view = (key: string, siteId?: string): AgentView => ({
  key,
  address: `10.0.0.${key.length}:7443`,
  fingerprint: FP,
  state: siteId ? 'connected' : 'retrying',
  ...(siteId
    ? {
        identity: {
          agentId: `a-${key}`,
          siteId,
          siteName: siteId,
          hostName: key,
          version: '1',
          fingerprint: FP,
        },
      }
    : {}),
});

describe('estate snapshot', () => {
  it('keys sites by siteId, lists every agent of a site, prefers the newest details', () => {
    const snap = buildSnapshot([
      {
        view: view('a', 's1'),
        inventory: {
          site: { siteId: 's1', name: 'Old', location: '', contact: '' },
          siteFetchedAt: 1,
          hosts: [],
          vms: [],
        },
      },
      {
        view: view('b', 's1'),
        inventory: {
          site: { siteId: 's1', name: 'New', location: '', contact: '' },
          siteFetchedAt: 2,
          hosts: [],
          vms: [],
        },
      },
      { view: view('c', 's2'), inventory: undefined },
      { view: view('d'), inventory: undefined },
    ]);
    assert.deepEqual(
      snap.sites.map((s) => [s.siteId, s.name, s.agentKeys]),
      [
        ['s1', 'New', ['a', 'b']],
        ['s2', 's2', ['c']],
      ],
    );
    assert.equal(snap.agents.length, 4);
  });
});
