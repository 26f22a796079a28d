import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { PairingTokenSchema, PeerSchema, type Peer, type PairingToken } from '../../app/protocol';
import { FrameType } from '../../agent/peer/wire';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  startAgent,
  type InitializedAgent,
  type RawClient,
  type RpcResponse,
  type RunningAgent,
} from '../helpers/agents';
import { agentIdOf, agentKeyPair, connectPeer } from '../helpers/peer-client';

/** One agent under test: its credentials, its process, a console connection to it. */
interface Site {
  readonly name: string;
  readonly creds: InitializedAgent;
  readonly agentId: string;
  agent: RunningAgent;
  client: RawClient;
}

const PeersSchema = z.array(PeerSchema);
const sites: Record<'hq' | 'dr' | 'branch', Site> = {} as Record<'hq' | 'dr' | 'branch', Site>;

async function open(site: Site): Promise<RawClient> {
  const client = await connectRaw(site.agent.url, {
    token: site.creds.token,
    fingerprint: site.creds.fingerprint,
  });
  await client.hello();
  return client;
}

async function launch(name: string, args: readonly string[] = []): Promise<Site> {
  const creds = await initAgent({ site: name });
  const agent = await startAgent({ dataDir: creds.dataDir, args });
  const site: Site = {
    name,
    creds,
    agentId: await agentIdOf(creds.dataDir),
    agent,
    client: undefined as unknown as RawClient,
  };
  site.client = await open(site);
  return site;
}

/** Restarts the agent on the same control and replication addresses. */
async function restart(site: Site): Promise<void> {
  await site.client.close();
  assert.equal(await site.agent.stop(), 0);
  site.agent = await startAgent({
    dataDir: site.creds.dataDir,
    listen: site.agent.address,
    replicationListen: site.agent.replicationAddress,
  });
  site.client = await open(site);
}

const peers = async (site: Site): Promise<Peer[]> =>
  PeersSchema.parse(await site.client.result('site.peers'));

/** site.peers until `predicate` holds, re-checked on each inventory.changed. */
async function untilPeers(
  site: Site,
  predicate: (peers: Peer[]) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<Peer[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await peers(site);
    if (predicate(now)) return now;
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`${site.name}: timed out waiting for ${what}: ${JSON.stringify(now)}`);
    await site.client.notification('inventory.changed', left).catch(() => undefined);
  }
}

const pairingToken = async (site: Site): Promise<PairingToken> =>
  PairingTokenSchema.parse(await site.client.result('site.pairingToken'));

function errorOf(response: RpcResponse): { code: number; message: string } {
  assert.ok(response.error, `expected an error, got ${JSON.stringify(response.result)}`);
  return response.error;
}

const connectedTo = (agentId: string) => (list: Peer[]) =>
  list.length === 1 && list[0]?.agentId === agentId && list[0]?.link === 'connected';

before(async () => {
  const [hq, dr, branch] = await Promise.all([
    launch('Headquarters'),
    launch('Recovery DC'),
    launch('Branch office', ['--pairing-token-ttl', '1']),
  ]);
  Object.assign(sites, { hq, dr, branch });
});
after(cleanupAgents);

describe('site pairing between real agents', () => {
  it('logs its replication listener and gives pairing tokens with its address and identity', async () => {
    const { hq } = sites;
    assert.match(hq.agent.replicationAddress, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(hq.agent.replicationPort, hq.agent.port);
    const token = await pairingToken(hq);
    assert.equal(token.address, hq.agent.replicationAddress);
    assert.equal(token.fingerprint, hq.creds.fingerprint);
    assert.equal(token.siteName, 'Headquarters');
    assert.ok(Buffer.from(token.token, 'base64url').length >= 16, 'at least 128 bits');
    assert.ok(Math.abs(token.expiresAt - (Date.now() + 600_000)) < 30_000);
    assert.deepEqual(await peers(hq), []);
  });

  it('refuses wrong and expired tokens, and unreachable addresses, with messages an admin can act on', async () => {
    const { hq, dr, branch } = sites;
    const wrong = errorOf(
      await dr.client.request('site.pair', {
        address: hq.agent.replicationAddress,
        token: 'A'.repeat(43),
        fingerprint: hq.creds.fingerprint,
      }),
    );
    assert.equal(wrong.code, -32001);
    assert.match(wrong.message, /not valid for site "Headquarters"/);
    assert.match(wrong.message, /restarted are no longer valid/);
    assert.match(wrong.message, /ask for a new one on site "Headquarters"/);

    const short = await pairingToken(branch); // valid for 1 s on this agent
    await new Promise((r) => setTimeout(r, 1_300));
    const expired = errorOf(
      await dr.client.request('site.pair', {
        address: short.address,
        token: short.token,
        fingerprint: short.fingerprint,
      }),
    );
    assert.equal(
      expired.message,
      'The pairing token expired; ask for a new one on site "Branch office"',
    );

    const nobody = errorOf(
      await dr.client.request('site.pair', {
        address: '127.0.0.1:1',
        token: short.token,
        fingerprint: short.fingerprint,
      }),
    );
    assert.equal(nobody.code, -32008);
    assert.match(nobody.message, /Cannot reach 127\.0\.0\.1:1: ECONNREFUSED/);
    assert.deepEqual(await peers(dr), []);
    assert.deepEqual(await peers(hq), []);
  });

  it('sends a token only to the certificate it came with', async () => {
    const { hq, dr, branch } = sites;
    // HQ's token, but the address reaches another agent (a wrong DNS entry, or an impostor).
    const token = await pairingToken(hq);
    const pairs = (): number =>
      branch.agent.logLines().filter((l) => /token|paired|refused/.test(JSON.stringify(l))).length;
    const before = pairs();
    const mismatch = errorOf(
      await dr.client.request('site.pair', {
        address: branch.agent.replicationAddress,
        token: token.token,
        fingerprint: token.fingerprint,
      }),
    );
    assert.equal(mismatch.code, -32010);
    assert.match(
      mismatch.message,
      /presents certificate .* not .* as the pairing token says: the token was not sent/,
    );
    assert.equal(pairs(), before, 'the other agent never saw a PAIR');
    assert.deepEqual(await peers(dr), []);
  });

  it('pairs: both list each other with the link connected, both consoles are notified', async () => {
    const { hq, dr } = sites;
    const token = await pairingToken(hq);
    const notifiedHq = hq.client.notification<{ kinds: string[] }>('inventory.changed');
    const notifiedDr = dr.client.notification<{ kinds: string[] }>('inventory.changed');
    const peer = PeerSchema.parse(
      await dr.client.result('site.pair', {
        address: token.address,
        token: token.token,
        fingerprint: token.fingerprint,
      }),
    );
    assert.equal(peer.agentId, hq.agentId);
    assert.equal(peer.fingerprint, hq.creds.fingerprint);
    assert.equal(peer.siteName, 'Headquarters');
    assert.deepEqual((await notifiedHq).kinds, ['peer']);
    assert.deepEqual((await notifiedDr).kinds, ['peer']);

    const [onHq] = await untilPeers(hq, connectedTo(dr.agentId), 'the link to Recovery DC');
    assert.equal(onHq?.fingerprint, dr.creds.fingerprint, 'pinned from the TLS client certificate');
    assert.equal(onHq?.siteName, 'Recovery DC');
    assert.equal(onHq?.address, dr.agent.replicationAddress);
    await untilPeers(dr, connectedTo(hq.agentId), 'the link to Headquarters');

    // the control channel works across the link: each side pinged the other over it
    for (const [site, other] of [
      [hq, dr],
      [dr, hq],
    ] as const) {
      const line = await site.agent.waitForLog(
        (l) => l.msg === 'peer link up' && l['peer'] === other.agentId,
      );
      assert.equal((line['answer'] as { agentId: string }).agentId, other.agentId);
      assert.equal(typeof line['rttMs'], 'number');
    }
    // exactly one connection: the agent with the smaller id dialed
    const dialer = hq.agentId < dr.agentId ? hq : dr;
    const roles = (site: Site): unknown[] =>
      site.agent
        .logLines()
        .filter((l) => l.msg === 'peer link connected')
        .map((l) => l['role']);
    assert.deepEqual(roles(dialer), ['dialer']);
    assert.deepEqual(roles(dialer === hq ? dr : hq), ['acceptor']);

    // the token was single use
    const reused = errorOf(
      await sites.branch.client.request('site.pair', {
        address: token.address,
        token: token.token,
        fingerprint: token.fingerprint,
      }),
    );
    assert.equal(
      reused.message,
      'The pairing token was already used; ask for a new one on site "Headquarters"',
    );
  });

  it('refuses pairing an agent with itself or with an agent it is already paired with', async () => {
    const { hq, dr } = sites;
    const own = await pairingToken(hq);
    const self = errorOf(
      await hq.client.request('site.pair', {
        address: own.address,
        token: own.token,
        fingerprint: own.fingerprint,
      }),
    );
    assert.equal(self.code, -32005);
    assert.match(self.message, /cannot pair with itself/);
    const twice = errorOf(
      await dr.client.request('site.pair', {
        address: own.address,
        token: own.token,
        fingerprint: own.fingerprint,
      }),
    );
    assert.equal(twice.code, -32012);
    assert.match(twice.message, /Site "Recovery DC" is already paired with site "Headquarters"/);
  });

  it('refuses an agent that is not paired on the replication port, and logs it', async () => {
    const { hq, branch } = sites;
    const client = await connectPeer(
      hq.agent.replicationAddress,
      await agentKeyPair(branch.creds.dataDir),
    );
    assert.equal(client.fingerprint, hq.creds.fingerprint);
    client.sendJson(FrameType.HELLO, {
      min: 1,
      max: 1,
      agentId: branch.agentId,
      siteId: 'site',
      siteName: 'Branch office',
      address: branch.agent.replicationAddress,
    });
    const refused = await client.refused();
    assert.equal(refused.reason, 'not-paired');
    assert.match(refused.message, /Site "Headquarters" is not paired with this agent/);
    await client.closed;
    const line = await hq.agent.waitForLog(
      (l) =>
        l.msg === 'peer refused' &&
        l['reason'] === 'not-paired' &&
        l['fingerprint'] === branch.creds.fingerprint,
    );
    assert.equal(line['agentId'], branch.agentId);
    assert.deepEqual(
      (await peers(hq)).map((p) => p.agentId),
      [sites.dr.agentId],
    );
  });

  it('stays paired across restarts of either agent; the link reconnects', async () => {
    const { hq, dr } = sites;
    for (const site of [hq, dr]) {
      await restart(site);
      await untilPeers(hq, connectedTo(dr.agentId), `HQ's link after restarting ${site.name}`);
      await untilPeers(dr, connectedTo(hq.agentId), `DR's link after restarting ${site.name}`);
      await site.agent.waitForLog((l) => l.msg === 'peer link up');
    }
  });

  it('unpair: both sides forget, the link closes, and the old certificate is refused', async () => {
    const { hq, dr } = sites;
    const drNotified = dr.client.notification('inventory.changed');
    assert.deepEqual(await hq.client.result('site.unpair', { agentId: dr.agentId }), {
      unpaired: true,
    });
    assert.deepEqual(await peers(hq), []);
    await drNotified;
    await untilPeers(dr, (list) => list.length === 0, 'Recovery DC to forget Headquarters');
    await dr.agent.waitForLog((l) => l.msg === 'peer unpaired' && l['peer'] === hq.agentId);

    const client = await connectPeer(
      hq.agent.replicationAddress,
      await agentKeyPair(dr.creds.dataDir),
    );
    client.sendJson(FrameType.HELLO, {
      min: 1,
      max: 1,
      agentId: dr.agentId,
      siteId: 'site',
      siteName: 'Recovery DC',
      address: dr.agent.replicationAddress,
    });
    assert.equal((await client.refused()).reason, 'not-paired');
    const again = errorOf(await hq.client.request('site.unpair', { agentId: dr.agentId }));
    assert.equal(again.code, -32004);
    // and after a restart nothing comes back
    await restart(dr);
    assert.deepEqual(await peers(dr), []);
  });
});
