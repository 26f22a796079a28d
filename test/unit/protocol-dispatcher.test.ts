import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { Dispatcher, NoParams, method, type Handlers } from '../../app/protocol';

const table = {
  'demo.echo': method(
    z.strictObject({ text: z.string().max(10) }),
    z.object({ text: z.string() }),
    'echo',
  ),
  'demo.nested': method(
    z.strictObject({ vms: z.array(z.strictObject({ name: z.string().min(1) })) }),
    z.number(),
    'count',
  ),
  'demo.fail': method(NoParams, z.null(), 'fails with a product error'),
  'demo.crash': method(NoParams, z.null(), 'throws a bug'),
  'demo.lie': method(NoParams, z.number(), 'returns a result that breaks its schema'),
};
type Ctx = { user: string };
const handlers: Handlers<typeof table, Ctx> = {
  'demo.echo': (p) => ({ text: p.text }),
  'demo.nested': (p) => p.vms.length,
  'demo.fail': () => {
    throw new TidelineError('NOT_FOUND', 'No such VPG "x"; list VPGs with vpg.list');
  },
  'demo.crash': () => {
    throw new Error('secret internal detail at /srv/x.ts:12');
  },
  'demo.lie': () => 'not a number' as unknown as number,
};

function dispatcher(internal: unknown[] = []) {
  return new Dispatcher(table, handlers, { onInternalError: (e) => internal.push(e), maxBatch: 4 });
}
const ctx: Ctx = { user: 'admin' };
const call = async (d: Dispatcher<typeof table, Ctx>, text: string) => {
  const out = await d.handleText(text, ctx);
  return out === undefined ? undefined : (JSON.parse(out) as Record<string, unknown>);
};

test('answers a valid request with its result', async () => {
  const res = await call(
    dispatcher(),
    '{"jsonrpc":"2.0","id":1,"method":"demo.echo","params":{"text":"hi"}}',
  );
  assert.deepEqual(res, { jsonrpc: '2.0', id: 1, result: { text: 'hi' } });
});

test('invalid JSON is a parse error with id null', async () => {
  const res = await call(dispatcher(), '{"jsonrpc":');
  assert.equal(res?.['id'], null);
  assert.equal((res?.['error'] as { code: number }).code, -32700);
});

test('unknown method is -32601 and names the method', async () => {
  const res = await call(dispatcher(), '{"jsonrpc":"2.0","id":"a","method":"vpg.explode"}');
  const error = res?.['error'] as { code: number; message: string };
  assert.equal(error.code, -32601);
  assert.match(error.message, /vpg\.explode/);
  assert.equal(res?.['id'], 'a');
});

test('invalid params are -32602 with the path of the bad field', async () => {
  const res = await call(
    dispatcher(),
    '{"jsonrpc":"2.0","id":2,"method":"demo.nested","params":{"vms":[{"name":"a"},{"name":""}]}}',
  );
  const error = res?.['error'] as {
    code: number;
    message: string;
    data: { path: string; code: string };
  };
  assert.equal(error.code, -32602);
  assert.equal(error.data.path, 'vms[1].name');
  assert.equal(error.data.code, 'INVALID_PARAMS');
  assert.match(error.message, /vms\[1\]\.name/);
});

test('unknown fields are refused, not ignored', async () => {
  const res = await call(
    dispatcher(),
    '{"jsonrpc":"2.0","id":3,"method":"demo.echo","params":{"text":"a","x":1}}',
  );
  assert.equal((res?.['error'] as { code: number }).code, -32602);
});

test('a request without jsonrpc 2.0 is -32600 and keeps a valid id', async () => {
  const res = await call(dispatcher(), '{"id":7,"method":"demo.echo"}');
  assert.equal((res?.['error'] as { code: number }).code, -32600);
  assert.equal(res?.['id'], 7);
});

test('a batch with garbage answers each item on its own', async () => {
  const out = await dispatcher().handleText(
    JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'demo.echo', params: { text: 'ok' } },
      42,
      { jsonrpc: '2.0', id: 2, method: 'nope' },
      { jsonrpc: '2.0', method: 'demo.echo', params: { text: 'notification' } },
    ]),
    ctx,
  );
  const res = JSON.parse(out ?? '[]') as {
    id: unknown;
    result?: unknown;
    error?: { code: number };
  }[];
  assert.equal(res.length, 3, 'the notification gets no response');
  assert.deepEqual(res[0], { jsonrpc: '2.0', id: 1, result: { text: 'ok' } });
  assert.equal(res[1]?.error?.code, -32600);
  assert.equal(res[2]?.error?.code, -32601);
});

test('empty and oversized batches are refused whole', async () => {
  const empty = await call(dispatcher(), '[]');
  assert.equal((empty?.['error'] as { code: number }).code, -32600);
  const big = JSON.stringify(
    Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'demo.fail' })),
  );
  const res = await call(dispatcher(), big);
  assert.match((res?.['error'] as { message: string }).message, /batch of 5 .* limit of 4/);
});

test('product errors keep their code and message; bugs become -32603 without details', async () => {
  const internal: unknown[] = [];
  const d = dispatcher(internal);
  const fail = await call(d, '{"jsonrpc":"2.0","id":1,"method":"demo.fail"}');
  const err = fail?.['error'] as { code: number; message: string; data: { code: string } };
  assert.equal(err.code, -32004);
  assert.equal(err.data.code, 'NOT_FOUND');
  const crash = await call(d, '{"jsonrpc":"2.0","id":2,"method":"demo.crash"}');
  const text = JSON.stringify(crash);
  assert.equal((crash?.['error'] as { code: number }).code, -32603);
  assert.doesNotMatch(text, /secret|\/srv\//, 'no internals leak to the peer');
  assert.equal(internal.length, 1, 'the bug is reported for logging');
});

test('a result that breaks its own schema is an internal error, not sent as is', async () => {
  const internal: unknown[] = [];
  const res = await call(dispatcher(internal), '{"jsonrpc":"2.0","id":1,"method":"demo.lie"}');
  assert.equal((res?.['error'] as { code: number }).code, -32603);
  assert.equal(internal.length, 1);
});

test('the guard refuses calls before a handshake', async () => {
  const d = new Dispatcher(table, handlers, {
    guard: (m) => {
      if (m !== 'demo.echo') throw new TidelineError('HANDSHAKE_REQUIRED', 'Call hello first');
    },
  });
  const res = await call(d, '{"jsonrpc":"2.0","id":1,"method":"demo.fail"}');
  assert.equal((res?.['error'] as { data: { code: string } }).data.code, 'HANDSHAKE_REQUIRED');
});
