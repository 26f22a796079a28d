import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  HelloResultSchema,
  HostSchema,
  InventoryChangedSchema,
  SiteDetailsSchema,
  VmSchema,
  type InventoryChanged,
} from '../../app/protocol';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  startAgent,
  type InitializedAgent,
  type RawClient,
  type RunningAgent,
} from '../helpers/agents';

let creds: InitializedAgent;
let agent: RunningAgent;
before(async () => {
  creds = await initAgent({ site: 'Headquarters' });
  agent = await startAgent({ dataDir: creds.dataDir });
});
after(cleanupAgents);

const open = (): Promise<RawClient> =>
  connectRaw(agent.url, { token: creds.token, fingerprint: creds.fingerprint });

describe('agent protocol', () => {
  it('hello returns a schema-valid identity; site, hosts and VMs are schema-valid', async () => {
    const client = await open();
    const hello = HelloResultSchema.parse(await client.hello());
    assert.equal(hello.protocolVersion, 1);
    assert.deepEqual(hello.supported, { min: 1, max: 1 });
    assert.equal(hello.agent.siteName, 'Headquarters');
    assert.equal(hello.agent.fingerprint, creds.fingerprint);

    const site = SiteDetailsSchema.parse(await client.result('site.details'));
    assert.equal(site.siteId, hello.agent.siteId);
    assert.equal(site.name, 'Headquarters');

    const hosts = z.array(HostSchema).parse(await client.result('host.list'));
    assert.equal(hosts.length, 1);
    assert.equal(hosts[0]?.hypervisor, 'sim');

    const vms = z.array(VmSchema).parse(await client.result('vm.list'));
    assert.ok(vms.length >= 4 && vms.length <= 6);
    assert.equal(vms.filter((v) => v.powerState === 'stopped').length, 1);
    for (const disk of vms.flatMap((v) => v.disks)) {
      const info = await stat(disk.location);
      assert.equal(info.size, disk.sizeBytes, 'a real sparse file of the disk size');
      assert.ok(info.blocks * 512 < info.size);
    }
    const byHost = z
      .array(VmSchema)
      .parse(await client.result('vm.list', { hostId: hosts[0]?.hostId }));
    assert.deepEqual(byHost, vms);
    const unknown = await client.request('vm.list', { hostId: 'host-unknown' });
    assert.equal(unknown.error?.code, -32004);
    assert.match(unknown.error?.message ?? '', /host-unknown/);
    await client.close();
  });

  it('refuses every method before hello with HANDSHAKE_REQUIRED, then serves after it', async () => {
    const other = await open();
    await other.hello();
    const client = await open();
    for (const method of ['site.details', 'site.setDetails', 'host.list', 'vm.list']) {
      const pending = client.request(
        method,
        method === 'site.setDetails' ? { name: 'Hijack' } : undefined,
      );
      const served = other.result('host.list');
      const res = await pending;
      assert.equal(res.error?.code, -32003, method);
      assert.equal(res.error?.data?.['code'], 'HANDSHAKE_REQUIRED');
      assert.match(res.error?.message ?? '', /Call hello first/);
      assert.ok(Array.isArray(await served));
    }
    assert.equal((await client.hello())['protocolVersion'], 1);
    assert.equal(
      (await client.result<{ name: string }>('site.details')).name,
      'Headquarters',
      'not hijacked',
    );
    assert.ok(Array.isArray(await other.result('vm.list')));
    await client.close();
    await other.close();
  });

  it('a hello with a newer version negotiates down; a malformed hello is -32602', async () => {
    const client = await open();
    const newer = await client.result<{ protocolVersion: number }>('hello', {
      protocolVersion: 7,
      client: { product: 'future-console', version: '9.0' },
    });
    assert.equal(newer.protocolVersion, 1);
    const bad = await client.request('hello', {
      protocolVersion: 0,
      client: { product: 'x', version: '1' },
    });
    assert.equal(bad.error?.code, -32602);
    assert.equal(bad.error?.data?.['path'], 'protocolVersion');
    await client.close();
  });

  it('site.setDetails persists atomically, notifies every connected console, and survives a restart', async () => {
    const editor = await open();
    const watcher = await open();
    const silent = await open(); // never says hello: gets no notifications
    await editor.hello();
    await watcher.hello();
    const notified = watcher.notification<InventoryChanged>('inventory.changed');
    const details = SiteDetailsSchema.parse(
      await editor.result('site.setDetails', {
        name: '  HQ Berlin ',
        location: 'Berlin, rack 4',
        contact: 'ops@example.com',
      }),
    );
    assert.deepEqual(
      { name: details.name, location: details.location, contact: details.contact },
      { name: 'HQ Berlin', location: 'Berlin, rack 4', contact: 'ops@example.com' },
    );
    const change = InventoryChangedSchema.parse(await notified);
    assert.deepEqual(change, { siteId: details.siteId, kinds: ['site'] });
    assert.deepEqual(
      InventoryChangedSchema.parse(await editor.notification('inventory.changed')),
      change,
    );
    assert.equal((await silent.request('site.details')).error?.code, -32003);
    await assert.rejects(silent.notification('inventory.changed', 300), /no matching frame/);

    const partial = await editor.result<{ name: string; location: string }>('site.setDetails', {
      contact: '',
    });
    assert.equal(partial.name, 'HQ Berlin', 'a patch keeps the fields it does not name');
    await Promise.all([editor.close(), watcher.close(), silent.close()]);

    assert.equal(await agent.stop(), 0);
    agent = await startAgent({ dataDir: creds.dataDir });
    const after = await open();
    const hello = HelloResultSchema.parse(await after.hello());
    assert.equal(hello.agent.siteName, 'HQ Berlin');
    assert.deepEqual(await after.result('site.details'), { ...details, contact: '' });
    await after.close();
  });

  it('terminates a console that stops answering pings, and keeps a live one', async () => {
    const a = await initAgent({ site: 'Keepalive' });
    const fast = await startAgent({ dataDir: a.dataDir, args: ['--keepalive', '0.5'] });
    const dead = await connectRaw(fast.url, { token: a.token, autoPong: false });
    const live = await connectRaw(fast.url, { token: a.token });
    await dead.hello();
    await live.hello();
    const started = Date.now();
    const closed = await dead.closed;
    assert.equal(closed.code, 1006, 'terminated, not closed politely');
    assert.ok(Date.now() - started < 5_000);
    await fast.waitForLog((l) => l.msg === 'console did not answer ping: terminating');
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await live.result<{ name: string }>('site.details')).name, 'Keepalive');
    await live.close();
    assert.equal(await fast.stop(), 0);
  });
});
