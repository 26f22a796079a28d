import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { Dispatcher, RpcClient, method, type Handlers, type Timers } from '../../app/protocol';

const table = {
  hello: method(z.undefined().optional(), z.literal('hi'), 'handshake: not part of the domain API'),
  'site.rename': method(
    z.strictObject({ name: z.string().min(1) }),
    z.object({ name: z.string() }),
    'r',
  ),
  'site.slow': method(z.undefined().optional(), z.literal('late'), 'never answers in time'),
};
const notifications = { 'inventory.changed': z.object({ kinds: z.array(z.string()) }) };
const timers: Timers = {
  set: (ms, fn) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Client and dispatcher joined back to back through the text each would put on a wire. */
function pair(handlers: Handlers<typeof table, null>) {
  const server = new Dispatcher(table, handlers);
  const sent: string[] = [];
  const client: RpcClient<typeof table, typeof notifications> = new RpcClient(
    table,
    notifications,
    {
      timers,
      send: (text) => {
        sent.push(text);
        void server.handleText(text, null).then((out) => out && client.handleText(out));
      },
    },
  );
  return { client, sent };
}

test('the domain API calls through and returns the validated result', async () => {
  const { client } = pair({
    hello: () => 'hi',
    'site.rename': (p) => ({ name: p.name }),
    'site.slow': () => 'late',
  });
  assert.deepEqual(await client.api.site.rename({ name: 'HQ' }), { name: 'HQ' });
  assert.equal(await client.call('hello'), 'hi');
  assert.deepEqual(
    Object.keys(client.api),
    ['site'],
    'ungrouped methods are not in the domain API',
  );
});

test('params are validated before anything is sent', async () => {
  const { client, sent } = pair({
    hello: () => 'hi',
    'site.rename': (p) => p,
    'site.slow': () => 'late',
  });
  await assert.rejects(client.api.site.rename({ name: '' }), (e: TidelineError) => {
    assert.equal(e.code, 'INVALID_PARAMS');
    assert.equal(e.data?.['path'], 'name');
    return true;
  });
  assert.equal(sent.length, 0);
});

test('server errors arrive as TidelineErrors with their code', async () => {
  const { client } = pair({
    hello: () => 'hi',
    'site.rename': () => {
      throw new TidelineError('CONFLICT', 'Site was renamed meanwhile');
    },
    'site.slow': () => 'late',
  });
  await assert.rejects(client.call('site.rename', { name: 'x' }), (e: TidelineError) => {
    assert.ok(e instanceof TidelineError);
    assert.equal(e.code, 'CONFLICT');
    assert.equal(e.message, 'Site was renamed meanwhile');
    return true;
  });
});

test('calls time out and failAll rejects what is in flight', async () => {
  const client = new RpcClient(table, notifications, { timers, send: () => undefined });
  await assert.rejects(client.call('site.slow', undefined, { timeoutMs: 20 }), { code: 'TIMEOUT' });
  const pending = client.call('site.rename', { name: 'x' });
  assert.equal(client.inFlight, 1);
  client.failAll(new TidelineError('CONNECTION_CLOSED', 'gone'));
  await assert.rejects(pending, { code: 'CONNECTION_CLOSED' });
  assert.equal(client.inFlight, 0);
});

test('notifications reach listeners; invalid ones are reported, not delivered', () => {
  const problems: TidelineError[] = [];
  const client = new RpcClient(table, notifications, {
    send: () => undefined,
    onProtocolError: (e) => problems.push(e),
  });
  const seen: string[][] = [];
  const off = client.on('inventory.changed', (p) => seen.push(p.kinds));
  client.handleText('{"jsonrpc":"2.0","method":"inventory.changed","params":{"kinds":["vm"]}}');
  client.handleText('{"jsonrpc":"2.0","method":"inventory.changed","params":{"kinds":7}}');
  client.handleText('not json');
  off();
  client.handleText('{"jsonrpc":"2.0","method":"inventory.changed","params":{"kinds":["site"]}}');
  assert.deepEqual(seen, [['vm']]);
  assert.equal(problems.length, 2);
});
