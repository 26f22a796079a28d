import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Dispatcher,
  agentMethods,
  type Host,
  type InventoryKind,
  type Vm,
} from '../../app/protocol';
import { createHandlers, handshakeGuard, negotiate } from '../../agent/control/handlers';
import type { Session } from '../../agent/control/session';
import type { HypervisorAdapter } from '../../agent/hypervisor/adapter';
import { generateSimInventory } from '../../agent/hypervisor/sim/generator';
import { SiteStore } from '../../agent/site/site-store';
import { inventoryHypervisor } from '../helpers/inventory-hypervisor';

const inventory = generateSimInventory({ siteName: 'Unit' });
const fakeHypervisor: HypervisorAdapter = inventoryHypervisor({
  listHosts: async (): Promise<Host[]> => inventory.hosts,
  listVms: async (filter = {}): Promise<Vm[]> =>
    inventory.vms.filter((v) => filter.hostId === undefined || v.hostId === filter.hostId),
});

let dir: string;
let site: SiteStore;
const changes: InventoryKind[][] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tideline-handlers-'));
  await SiteStore.create(join(dir, 'site.json'), {
    siteId: 's1',
    name: 'Unit',
    location: '',
    contact: '',
  });
  site = new SiteStore(join(dir, 'site.json'));
  await site.load();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function dispatcher(versions = { min: 1, max: 1 }): Dispatcher<typeof agentMethods, Session> {
  const handlers = createHandlers({
    identity: {
      agentId: 'a1',
      siteId: 's1',
      hostName: 'h',
      version: '0.1.0',
      fingerprint: Array(32).fill('AB').join(':'),
    },
    site,
    hypervisor: fakeHypervisor,
    inventoryChanged: (kinds) => changes.push(kinds),
    versions,
  });
  return new Dispatcher(agentMethods, handlers, { guard: handshakeGuard });
}

const session = (): Session => ({ id: 1, peer: 'test', protocolVersion: undefined });
const call = async (
  d: Dispatcher<typeof agentMethods, Session>,
  s: Session,
  method: string,
  params?: unknown,
) =>
  JSON.parse(
    (await d.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), s)) ?? 'null',
  ) as {
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: Record<string, unknown> };
  };
const hello = { protocolVersion: 1, client: { product: 'test', version: '1' } };

describe('agent handlers', () => {
  it('negotiates the highest common version, refusing versions below the minimum', () => {
    assert.equal(negotiate(1, { min: 1, max: 1 }), 1);
    assert.equal(negotiate(7, { min: 1, max: 3 }), 3);
    assert.equal(negotiate(2, { min: 1, max: 3 }), 2);
    assert.equal(negotiate(1, { min: 2, max: 3 }), undefined);
  });

  it('refuses an incompatible version with a message saying which would work', async () => {
    const s = session();
    const res = await call(dispatcher({ min: 2, max: 4 }), s, 'hello', hello);
    assert.equal(res.error?.code, -32002);
    assert.equal(
      res.error?.message,
      'This agent speaks protocol versions 2–4; the console asked for 1. Upgrade the console or the agent.',
    );
    assert.deepEqual(res.error?.data?.['supported'], { min: 2, max: 4 });
    assert.equal(s.protocolVersion, undefined, 'no handshake');
    assert.equal((await call(dispatcher(), s, 'site.details')).error?.code, -32003);
  });

  it('needs hello before anything else, then serves', async () => {
    const d = dispatcher();
    const s = session();
    assert.equal((await call(d, s, 'host.list')).error?.code, -32003);
    const res = await call(d, s, 'hello', hello);
    assert.equal(res.result?.['protocolVersion'], 1);
    assert.equal((res.result?.['agent'] as Record<string, unknown>)['siteName'], 'Unit');
    assert.equal(s.protocolVersion, 1);
    assert.ok(Array.isArray((await call(d, s, 'host.list')).result));
  });

  it('vm.list: all, by host, unknown host is NOT_FOUND', async () => {
    const d = dispatcher();
    const s = session();
    await call(d, s, 'hello', hello);
    const all = (await call(d, s, 'vm.list')).result as unknown as Vm[];
    assert.equal(all.length, inventory.vms.length);
    const byHost = (await call(d, s, 'vm.list', { hostId: inventory.hosts[0]?.hostId }))
      .result as unknown as Vm[];
    assert.equal(byHost.length, all.length);
    const missing = await call(d, s, 'vm.list', { hostId: 'host-nope' });
    assert.equal(missing.error?.code, -32004);
    assert.match(missing.error?.message ?? '', /host-nope/);
  });

  it('site.setDetails persists and reports the change', async () => {
    const d = dispatcher();
    const s = session();
    await call(d, s, 'hello', hello);
    changes.length = 0;
    const res = await call(d, s, 'site.setDetails', { location: '  Berlin ' });
    assert.deepEqual(res.result, { siteId: 's1', name: 'Unit', location: 'Berlin', contact: '' });
    assert.deepEqual(changes, [['site']]);
    const again = new SiteStore(join(dir, 'site.json'));
    await again.load();
    assert.equal(again.details.location, 'Berlin');
    const bad = await call(d, s, 'site.setDetails', { name: 42 });
    assert.equal(bad.error?.code, -32602);
    assert.equal(bad.error?.data?.['path'], 'name');
  });
});
