import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  UpgradeRefusedError,
  cleanupAgents,
  connectRaw,
  initAgent,
  startAgent,
  type InitializedAgent,
  type RunningAgent,
} from '../helpers/agents';

let creds: InitializedAgent;
let agent: RunningAgent;
before(async () => {
  creds = await initAgent({ site: 'Auth' });
  agent = await startAgent({ dataDir: creds.dataDir });
});
after(cleanupAgents);

async function refusal(promise: Promise<unknown>): Promise<UpgradeRefusedError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UpgradeRefusedError) return err;
    throw err;
  }
  assert.fail('the upgrade was accepted');
}

/** A client from another loopback address is served: throttling is per address. */
async function assertServedFrom(localAddress: string): Promise<void> {
  const client = await connectRaw(agent.url, {
    token: creds.token,
    fingerprint: creds.fingerprint,
    localAddress,
  });
  await client.hello();
  assert.equal((await client.result<{ name: string }>('site.details')).name, 'Auth');
  await client.close();
}

describe('control channel authentication', () => {
  it('refuses a missing token with 401 at the upgrade', async () => {
    const err = await refusal(connectRaw(agent.url, { localAddress: '127.0.0.3' }));
    assert.equal(err.status, 401);
    assert.match(String(err.headers['www-authenticate']), /^Bearer/);
    assert.match(err.body, /Authorization: Bearer <token>/);
    await assertServedFrom('127.0.0.2');
  });

  it('refuses a wrong token with 401 at the upgrade', async () => {
    const err = await refusal(
      connectRaw(agent.url, { token: 'A'.repeat(43), localAddress: '127.0.0.4' }),
    );
    assert.equal(err.status, 401);
    assert.match(err.body, /token is not valid/);
    const garbage = await refusal(
      connectRaw(agent.url, {
        headers: { Authorization: 'Basic Zm9vOmJhcg==' },
        localAddress: '127.0.0.4',
      }),
    );
    assert.equal(garbage.status, 401);
    await assertServedFrom('127.0.0.2');
  });

  it('refuses other paths with 404', async () => {
    const err = await refusal(
      connectRaw(agent.url.replace(/\/$/, '/other'), { token: creds.token }),
    );
    assert.equal(err.status, 404);
  });

  it('slows repeated failures down (429 + Retry-After), but never shuts out the right token', async () => {
    const from = '127.0.0.5';
    const linesBefore = agent.logLines().length;
    for (let i = 1; i <= 5; i += 1) {
      const err = await refusal(connectRaw(agent.url, { token: `wrong-${i}`, localAddress: from }));
      assert.equal(err.status, 401, `attempt ${i}`);
    }
    const locked = await refusal(connectRaw(agent.url, { token: 'wrong-6', localAddress: from }));
    assert.equal(locked.status, 429);
    const retryAfter = Number(locked.headers['retry-after']);
    assert.ok(retryAfter >= 1, `Retry-After ${retryAfter}`);
    assert.match(locked.body, /Too many failed attempts from 127\.0\.0\.5/);
    // The console, from the same address (a guesser behind the same NAT), still gets in …
    await assertServedFrom(from);
    // … and its success does not lift the lockout for the guesser.
    const still = await refusal(connectRaw(agent.url, { token: 'wrong-7', localAddress: from }));
    assert.equal(still.status, 429);

    // Meanwhile another address is served at once.
    await assertServedFrom('127.0.0.2');

    // After the lockout the next failure doubles it.
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    assert.equal(
      (await refusal(connectRaw(agent.url, { token: 'wrong-8', localAddress: from }))).status,
      401,
    );
    const doubled = await refusal(connectRaw(agent.url, { token: 'wrong-9', localAddress: from }));
    assert.equal(doubled.status, 429);
    assert.ok(
      Number(doubled.headers['retry-after']) >= 2,
      `Retry-After ${doubled.headers['retry-after']}`,
    );
    await assertServedFrom(from);

    // Refusals are logged once per source, reason and window, then counted for a summary line.
    const refusals = agent
      .logLines()
      .slice(linesBefore)
      .filter((l) => l['source'] === from)
      .map((l) => `${String(l.msg)}: ${String(l['reason'])}`);
    assert.deepEqual(refusals, [
      'authentication failed: wrong token',
      'authentication throttled: throttled',
    ]);
  });

  it('a pinned fingerprint that does not match stops the client before it sends the token', async () => {
    const logged = agent.logLines().length;
    const wrong = creds.fingerprint.replace(
      /^../,
      creds.fingerprint.startsWith('00') ? '11' : '00',
    );
    await assert.rejects(
      connectRaw(agent.url, { token: creds.token, fingerprint: wrong, localAddress: '127.0.0.6' }),
      /fingerprint mismatch/,
    );
    await new Promise((r) => setTimeout(r, 200));
    const lines = agent
      .logLines()
      .slice(logged)
      .filter((l) => l['peer'] === '127.0.0.6');
    assert.deepEqual(lines, [], 'the agent saw no request from that client');
  });
});
