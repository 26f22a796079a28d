/**
 * Bad input never harms the daemon or other requests. Each test sends something bad on one
 * connection and checks that a second console is served while it happens and after it, and
 * (unless the bad input is meant to close it) that the same connection still works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

const MiB = 1024 * 1024;

let creds: InitializedAgent;
let agent: RunningAgent;
let other: RawClient;
before(async () => {
  creds = await initAgent({ site: 'Robust' });
  agent = await startAgent({ dataDir: creds.dataDir });
  other = await helloed();
});
after(async () => {
  await other.close();
  await cleanupAgents();
});

async function helloed(): Promise<RawClient> {
  const client = await connectRaw(agent.url, {
    token: creds.token,
    fingerprint: creds.fingerprint,
  });
  await client.hello();
  return client;
}

/** The second console gets a right answer, quickly. */
async function otherServed(): Promise<void> {
  const started = Date.now();
  const site = await other.result<{ name: string }>('site.details');
  assert.equal(site.name, 'Robust');
  assert.ok(Date.now() - started < 3_000, `second console answered in ${Date.now() - started} ms`);
}

/** Sends bad input on `client` while the other console is served; returns the reply. */
async function badInput(client: RawClient, data: string | Buffer): Promise<RpcResponse> {
  client.send(data);
  const during = otherServed();
  const reply = await client.nextJson<RpcResponse>();
  await during;
  await otherServed();
  return reply;
}

async function stillWorks(client: RawClient): Promise<void> {
  assert.equal((await client.result<{ name: string }>('site.details')).name, 'Robust');
}

describe('bad input', () => {
  it('invalid JSON → -32700, and the next request on the connection is answered', async () => {
    const client = await helloed();
    const reply = await badInput(client, '{"jsonrpc":"2.0","id":1,"method":');
    assert.equal(reply.id, null);
    assert.equal(reply.error?.code, -32700);
    await stillWorks(client);
    await client.close();
  });

  it('unknown method → -32601 naming the method', async () => {
    const client = await helloed();
    const reply = await badInput(
      client,
      JSON.stringify({ jsonrpc: '2.0', id: 'u1', method: 'vm.explode' }),
    );
    assert.equal(reply.id, 'u1');
    assert.equal(reply.error?.code, -32601);
    assert.match(reply.error?.message ?? '', /vm\.explode/);
    await stillWorks(client);
    await client.close();
  });

  it('invalid params → -32602 naming the field path', async () => {
    const client = await helloed();
    const reply = await badInput(
      client,
      JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'site.setDetails', params: { name: 42 } }),
    );
    assert.equal(reply.id, 7);
    assert.equal(reply.error?.code, -32602);
    assert.match(reply.error?.message ?? '', /site\.setDetails: name:/);
    assert.equal(reply.error?.data?.['path'], 'name');
    const unknownField = await client.request('vm.list', { hostId: 'h', color: 'red' });
    assert.equal(unknownField.error?.code, -32602);
    const empty = await client.request('site.setDetails', {});
    assert.equal(empty.error?.code, -32602);
    assert.match(empty.error?.message ?? '', /give at least one of name, location, contact/);
    await stillWorks(client);
    await client.close();
  });

  it('a batch with garbage → an error per bad item, and the valid items answered', async () => {
    const client = await helloed();
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'site.details' },
      42,
      { jsonrpc: '1.0', id: 2, method: 'host.list' },
      { jsonrpc: '2.0', id: 3, method: 'nope' },
      { jsonrpc: '2.0', id: 4, method: 'vm.list', params: { hostId: 5 } },
      { jsonrpc: '2.0', id: 5, method: 'host.list' },
      { jsonrpc: '2.0', method: 'host.list' }, // a notification: no answer
      'garbage',
    ];
    client.send(JSON.stringify(batch));
    const during = otherServed();
    const replies = await client.nextJson<RpcResponse[]>();
    await during;
    assert.ok(Array.isArray(replies));
    assert.equal(replies.length, 7);
    const byId = new Map(replies.filter((r) => r.id !== null).map((r) => [r.id, r]));
    assert.equal((byId.get(1)?.result as { name: string }).name, 'Robust');
    assert.equal(byId.get(2)?.error?.code, -32600);
    assert.equal(byId.get(3)?.error?.code, -32601);
    assert.equal(byId.get(4)?.error?.code, -32602);
    assert.ok(Array.isArray(byId.get(5)?.result));
    assert.equal(
      replies.filter((r) => r.id === null && r.error?.code === -32600).length,
      2,
      'the two non-objects',
    );
    const emptyBatch = await badInput(client, '[]');
    assert.equal(emptyBatch.error?.code, -32600);
    await stillWorks(client);
    await otherServed();
    await client.close();
  });

  it('a binary frame → INVALID_REQUEST, and the connection goes on', async () => {
    const client = await helloed();
    const reply = await badInput(
      client,
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'host.list' })),
    );
    assert.equal(reply.id, null);
    assert.equal(reply.error?.code, -32600);
    assert.match(reply.error?.message ?? '', /Binary frames are not accepted/);
    await stillWorks(client);
    await client.close();
  });

  it('a 2 MiB frame → FRAME_TOO_LARGE (size and limit in the message), and the connection goes on', async () => {
    const client = await helloed();
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'site.setDetails',
      params: { name: 'x'.repeat(2 * MiB) },
    });
    const reply = await badInput(client, big);
    assert.equal(reply.id, null);
    assert.equal(reply.error?.code, -32006);
    assert.equal(reply.error?.data?.['code'], 'FRAME_TOO_LARGE');
    assert.ok(
      reply.error?.message.includes(`${Buffer.byteLength(big)} bytes`),
      reply.error?.message,
    );
    assert.ok(reply.error?.message.includes('1048576 bytes (1 MiB)'), reply.error?.message);
    await stillWorks(client);
    assert.equal(
      (await client.result<{ name: string }>('site.details')).name,
      'Robust',
      'not applied',
    );
    await client.close();
  });

  it('a frame over 8 MiB closes that connection with 1009 and a clear reason; others go on', async () => {
    const client = await helloed();
    client.send('x'.repeat(9 * MiB));
    const during = otherServed();
    const closed = await client.closed;
    await during;
    assert.equal(closed.code, 1009);
    assert.match(closed.reason, /Message too big: frames over 8388608 bytes \(8 MiB\)/);
    await otherServed();
    const fresh = await helloed();
    await stillWorks(fresh);
    await fresh.close();
  });

  it('too many requests in flight → TOO_MANY_REQUESTS for the excess, every request answered', async () => {
    const client = await helloed();
    const total = 300;
    for (let i = 1; i <= total; i += 1) {
      client.sendJson({
        jsonrpc: '2.0',
        id: i,
        method: 'site.setDetails',
        params: { contact: `c${i}` },
      });
    }
    const during = otherServed();
    const replies: RpcResponse[] = [];
    while (replies.length < total) {
      replies.push(
        await client.waitFor<RpcResponse>((v) => typeof v === 'object' && v !== null && 'id' in v),
      );
    }
    await during;
    assert.deepEqual(new Set(replies.map((r) => r.id)).size, total);
    const busy = replies.filter((r) => r.error?.code === -32007);
    const done = replies.filter((r) => r.result !== undefined);
    assert.ok(busy.length > 0, 'some refused');
    assert.ok(done.length >= 64, `${done.length} served`);
    assert.equal(busy.length + done.length, total);
    assert.match(busy[0]?.error?.message ?? '', /limit 64/);
    await stillWorks(client);
    await otherServed();
    await client.close();
  });

  it('a console that never reads is disconnected once its backlog is too big; others are served throughout', async () => {
    const slow = await helloed();
    slow.ws.pause(); // stop reading: the agent's answers pile up
    const request = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vm.list' });
    const seen = (): boolean =>
      agent.logLines().some((l) => l.msg === 'console is not reading: disconnecting');
    const deadline = Date.now() + 30_000;
    let rounds = 0;
    while (!seen() && Date.now() < deadline) {
      for (let i = 0; i < 60; i += 1) slow.send(request);
      rounds += 1;
      if (rounds % 20 === 0) await otherServed();
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(seen(), `agent never gave up on the slow console after ${rounds} rounds`);
    await otherServed();
    const line = agent.logLines().find((l) => l.msg === 'console is not reading: disconnecting');
    assert.ok(Number(line?.['buffered']) > 16 * MiB);
    slow.ws.resume();
    const closed = await slow.closed;
    assert.ok([1008, 1006].includes(closed.code), `closed with ${closed.code}`);
    await otherServed();
  });

  it('logged no internal error for any of it', () => {
    const bad = agent.logLines().filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(bad, []);
  });
});
