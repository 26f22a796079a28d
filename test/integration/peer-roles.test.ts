/**
 * A paired agent may act only on the VPGs it is paired for (issue 12): another paired agent
 * that knows a VPG's id cannot power its VMs off or drop it. And a VPG whose journal a test
 * failover holds cannot be removed, by either site, until the test is stopped.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PairingTokenSchema } from '../../app/protocol';
import { ControlResponseSchema, type ControlResponse } from '../../agent/peer/messages';
import { FrameType } from '../../agent/peer/wire';
import { createSelfSignedIdentity } from '../../agent/security/certificate';
import { connectPeer, type KeyPair, type PeerClient } from '../helpers/peer-client';
import { call, errorOf, killSites, untilVpg, vms, type Site } from '../helpers/replication-sites';
import { launchLab, startTask, taskSucceeds, untilMetadata } from './failover-helpers';

/** The smallest agent id there is: this agent dials, so HQ accepts its HELLO. */
const ROGUE_ID = '00000000-0000-4000-8000-000000000000';

/** Reads frames until the CONTROL answer to request `id` (PINGs and the like skipped). */
async function controlAnswer(peer: PeerClient, id: number): Promise<ControlResponse> {
  for (;;) {
    const frame = await peer.nextFrame(15_000);
    if (frame.type !== FrameType.CONTROL) continue;
    const value: unknown = JSON.parse(frame.payload.toString('utf8'));
    if (typeof value === 'object' && value !== null && 'method' in value) continue; // HQ's ping
    const answer = ControlResponseSchema.parse(value);
    if (answer.id === id) return answer;
  }
}

describe('peer roles and removal during a test failover', { timeout: 240_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let rogue: KeyPair;

  before(async () => {
    ({ hq, dr, vpgId } = await launchLab({ vmCount: 2 }));
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting', 60_000);
    await untilMetadata(dr, vpgId);
    // Another agent pairs with HQ properly, with a token of its own.
    rogue = await createSelfSignedIdentity({ commonName: 'rogue', altNames: ['localhost'] });
    const token = PairingTokenSchema.parse(await call(hq, 'site.pairingToken'));
    const pairing = await connectPeer(token.address, rogue);
    pairing.sendJson(FrameType.PAIR, {
      ...identity(),
      token: token.token,
    });
    assert.equal((await pairing.nextFrame()).type, FrameType.PAIR_OK);
    pairing.close();
  });

  after(() => killSites(hq, dr));

  function identity() {
    return {
      min: 1,
      max: 1,
      agentId: ROGUE_ID,
      siteId: randomUUID(),
      siteName: 'Branch office',
      address: '127.0.0.1:9',
    };
  }

  it("refuses another paired agent's shutdownVms and drop of a VPG it is not paired for", async () => {
    const peer = await connectPeer(hq.agent.replicationAddress, rogue);
    peer.sendJson(FrameType.HELLO, identity());
    assert.equal((await peer.nextFrame()).type, FrameType.HELLO, 'HQ accepts the paired agent');
    const before = (await vms(hq)).map((v) => [v.vmId, v.powerState]);
    const vmIds = before.map(([id]) => id);
    peer.sendJson(FrameType.CONTROL, {
      id: 1,
      method: 'failover.shutdownVms',
      params: { vpgId, vmIds },
    });
    const shutdown = await controlAnswer(peer, 1);
    assert.ok('error' in shutdown, JSON.stringify(shutdown));
    assert.equal(shutdown.error.code, 'NOT_FOUND');
    assert.match(shutdown.error.message, /is not protected from this site toward site "Branch/);
    peer.sendJson(FrameType.CONTROL, { id: 2, method: 'vpg.drop', params: { vpgId } });
    const drop = await controlAnswer(peer, 2);
    assert.ok('error' in drop && drop.error.code === 'NOT_FOUND', JSON.stringify(drop));
    peer.close();
    assert.deepEqual(
      (await vms(hq)).map((v) => [v.vmId, v.powerState]),
      before,
      'no VM was powered off',
    );
    const state = await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting');
    assert.equal(state.vpgId, vpgId, 'the VPG is still protected');
  });

  it('refuses vpg.remove and vpg.forceRemove while a test failover holds the VPG', async () => {
    await taskSucceeds(dr, await startTask(dr, 'failover.test', { vpgId }));
    const removal = await errorOf(hq, 'vpg.remove', { vpgId });
    assert.equal(removal.code, -32005);
    assert.match(
      removal.message,
      /cannot be removed while its recovery site runs a test failover: stop the test first/,
    );
    for (const site of [hq, dr]) {
      const forced = await errorOf(site, 'vpg.forceRemove', { vpgId });
      assert.match(forced.message, /test failover: stop the test first/, site.name);
    }
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'still Protecting');
    await taskSucceeds(dr, await startTask(dr, 'failover.stopTest', { vpgId }));
    await call(hq, 'vpg.remove', { vpgId });
    const left = (await call<{ vpgId: string }[]>(dr, 'vpg.list')).filter((v) => v.vpgId === vpgId);
    assert.deepEqual(left, [], 'the recovery site dropped it once the test was stopped');
  });
});
