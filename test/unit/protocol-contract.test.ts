import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AddressSchema,
  FingerprintSchema,
  agentMethods,
  consoleApiFromBridge,
  consoleMethods,
  negotiateVersion,
  PROTOCOL_VERSION,
  type BridgeEnvelope,
  type TidelineBridge,
} from '../../app/protocol';
import type { TidelineError } from '../../app/errors';

test('every method name is group.name so the domain API can be built', () => {
  for (const name of [...Object.keys(agentMethods), ...Object.keys(consoleMethods)]) {
    if (name === 'hello') continue;
    assert.match(name, /^[a-z]+\.[a-zA-Z]+$/, name);
  }
});

test('addresses and fingerprints are checked with messages an admin understands', () => {
  assert.ok(AddressSchema.safeParse('10.0.0.5:7443').success);
  assert.ok(AddressSchema.safeParse('[::1]:7443').success);
  assert.ok(AddressSchema.safeParse('agent-1.example.lan:443').success);
  const noPort = AddressSchema.safeParse('10.0.0.5');
  assert.match(noPort.error?.issues[0]?.message ?? '', /host:port/);
  const badPort = AddressSchema.safeParse('h:70000');
  assert.match(badPort.error?.issues[0]?.message ?? '', /between 1 and 65535/);
  assert.ok(FingerprintSchema.safeParse(Array(32).fill('AB').join(':')).success);
  assert.ok(!FingerprintSchema.safeParse('ab:cd').success);
});

test('version negotiation accepts what the agent speaks and refuses older', () => {
  assert.equal(negotiateVersion(PROTOCOL_VERSION), PROTOCOL_VERSION);
  assert.equal(negotiateVersion(PROTOCOL_VERSION + 5), PROTOCOL_VERSION);
  assert.equal(negotiateVersion(0), undefined);
});

/** A bridge like the preload's, answering from a map of canned envelopes. */
function fakeBridge(answers: Record<string, BridgeEnvelope>): TidelineBridge {
  const bridge: Record<string, Record<string, (p?: unknown) => Promise<BridgeEnvelope>>> = {};
  for (const name of Object.keys(consoleMethods)) {
    const [g, m] = name.split('.') as [string, string];
    (bridge[g] ??= {})[m] = () =>
      Promise.resolve(
        answers[name] ?? { ok: false, error: { code: 'UNAVAILABLE', message: 'no' } },
      );
  }
  return { ...bridge, on: () => () => undefined } as unknown as TidelineBridge;
}

test('the Electron bridge turns envelopes back into results and TidelineErrors', async () => {
  const api = consoleApiFromBridge(
    fakeBridge({
      'console.info': { ok: true, result: { version: '0.1.0', mode: 'electron' } },
      'agents.remove': {
        ok: false,
        error: { code: 'NOT_FOUND', message: 'No agent with key k', data: { key: 'k' } },
      },
      'estate.get': { ok: true, result: { agents: 'broken' } },
    }),
  );
  assert.deepEqual(await api.console.info(), { version: '0.1.0', mode: 'electron' });
  await assert.rejects(api.agents.remove({ key: 'k' }), (e: TidelineError) => {
    assert.equal(e.code, 'NOT_FOUND');
    assert.equal(e.data?.['key'], 'k');
    return true;
  });
  await assert.rejects(api.estate.get(), { code: 'INVALID_RESULT' });
  await assert.rejects(api.agents.add({ address: 'nope', token: 'x', fingerprint: 'y' } as never), {
    code: 'INVALID_PARAMS',
  });
});
