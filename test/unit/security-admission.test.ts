import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { HandshakePool } from '../../agent/security/handshake-pool';
import { sourceKey } from '../../agent/security/source-key';
import { RefusalLog } from '../../agent/util/refusal-log';

describe('sourceKey', () => {
  it('counts IPv4 by address and IPv6 by /64', () => {
    assert.equal(sourceKey('10.0.0.5'), '10.0.0.5');
    assert.equal(sourceKey('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.notEqual(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'));
    assert.equal(sourceKey(undefined), 'unknown');
  });
});

describe('RefusalLog', () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    return { lines, log };
  }

  it('logs the first refusal of a source and reason in full and summarises the rest', () => {
    const { lines, log } = capture();
    const refusals = new RefusalLog({ log, what: 'refused peer connections', windowMs: 60_000 });
    for (let i = 0; i < 312; i += 1) refusals.warn({ source: '10.0.0.5', i }, 'peer refused');
    refusals.warn({ source: '10.0.0.6' }, 'peer refused');
    // Another reason from the same source is logged too: an admin sees why a site is refused.
    refusals.warn({ source: '10.0.0.6', reason: 'not-paired' }, 'peer refused');
    assert.deepEqual(
      lines.map((l) => [l['source'], l['reason'], l['msg']]),
      [
        ['10.0.0.5', undefined, 'peer refused'],
        ['10.0.0.6', undefined, 'peer refused'],
        ['10.0.0.6', 'not-paired', 'peer refused'],
      ],
    );
    refusals.flush();
    assert.equal(lines.length, 4, 'one summary: a single refusal needs none');
    assert.equal(
      lines[3]?.['msg'],
      '312 refused peer connections from 10.0.0.5 in the last minute',
    );
    assert.equal(lines[3]?.['refused'], 312);
    // A new window logs the first one in full again.
    refusals.warn({ source: '10.0.0.5' }, 'peer refused');
    assert.equal(lines.length, 5);
    refusals.stop();
  });

  it('bounds its memory: past maxSources the rest are counted together', () => {
    const { lines, log } = capture();
    const refusals = new RefusalLog({ log, what: 'refusals', maxSources: 3 });
    for (let i = 0; i < 1000; i += 1) refusals.warn({ source: `10.0.${i >> 8}.${i & 255}` }, 'x');
    assert.equal(lines.length, 3);
    refusals.stop();
    assert.equal(lines.length, 4);
    assert.match(String(lines[3]?.['msg']), /^997 refusals from other sources/);
  });
});

describe('HandshakePool', () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];

  before(async () => {
    server = createServer((socket) => {
      socket.on('error', () => undefined);
      accepted.push(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });

  after(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });

  async function open(localAddress: string): Promise<Socket> {
    const client = connect({ host: '127.0.0.1', port, localAddress });
    client.on('error', () => undefined);
    await once(client, 'connect');
    for (;;) {
      const match = accepted.find(
        (s) => s.remotePort === client.localPort && s.remoteAddress === localAddress,
      );
      if (match !== undefined) return match;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('drops the oldest of a source past its share, then the oldest overall', async () => {
    const evicted: string[] = [];
    const pool = new HandshakePool({ max: 4, maxPerSource: 2 }, (source) => evicted.push(source));
    const a1 = await open('127.0.0.2');
    pool.add(a1);
    const a2 = await open('127.0.0.2');
    pool.add(a2);
    const a3 = await open('127.0.0.2');
    pool.add(a3); // a1 goes: the same source had its 2
    assert.ok(a1.destroyed);
    assert.deepEqual(evicted, ['127.0.0.2']);
    const b1 = await open('127.0.0.3');
    pool.add(b1);
    const b2 = await open('127.0.0.3');
    pool.add(b2);
    assert.equal(pool.size, 4);
    const c1 = await open('127.0.0.4');
    pool.add(c1); // full: the oldest overall (a2) goes
    assert.ok(a2.destroyed && !a3.destroyed && !b1.destroyed);
    pool.settle(b1); // authenticated: no longer counted, never evicted
    assert.equal(pool.size, 3);
    for (let i = 0; i < 4; i += 1) pool.add(await open('127.0.0.5'));
    assert.ok(!b1.destroyed, 'a settled socket is never dropped');
    assert.ok(pool.size <= 4);
  });
});
