/**
 * Bounded fuzzing (fast-check) of everything a real agent listens on: the control channel
 * (authenticated), the replication port before and after authentication, and the NBD server.
 * Random and mutated input; after every batch the daemon is still up, a well-behaved console
 * and a well-behaved NBD client opened before the fuzzing are served as before, and the
 * agent's memory has not run away. Each property is seeded, so a failure can be replayed
 * (fast-check prints the seed and the shrunk counterexample).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { PairingTokenSchema, agentMethods } from '../../app/protocol';
import { FrameType, encodeFrame, type FrameTypeCode } from '../../agent/peer/wire';
import { createSelfSignedIdentity } from '../../agent/security/certificate';
import { cleanupAgents, connectRaw, type RawClient } from '../helpers/agents';
import { NbdConnection, NBD_CMD } from '../helpers/nbd-client';
import { connectPeer, type KeyPair, type PeerClient } from '../helpers/peer-client';
import { call, launchSite, vms, type Site } from '../helpers/replication-sites';

const SEED = Number(process.env['TIDELINE_FUZZ_SEED'] ?? 20261205);
const ROGUE_ID = '00000000-0000-4000-8000-000000000000';

let site: Site;
let nbdSocket: string;
let diskId: string;
let wellBehaved: NbdConnection;
let rssBefore: number;

async function rss(): Promise<number> {
  const status = await readFile(`/proc/${site.agent.process.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The daemon is up, the console and the NBD client opened before the fuzzing still work. */
async function stillServing(what: string): Promise<void> {
  assert.equal(site.agent.process.exitCode, null, `${what}: the agent is still running`);
  const listed = await vms(site);
  assert.ok(listed.length > 0, `${what}: the console is answered`);
  const data = Buffer.alloc(4096, Math.floor(Math.random() * 256));
  await wellBehaved.write(8192, data);
  await wellBehaved.flush();
  assert.deepEqual(await wellBehaved.read(8192, 4096), data, `${what}: NBD still serves`);
}

/** Waits until the connection is closed or `ms` passed; then closes it from our side. */
async function settle(close: () => void, closed: Promise<unknown>, ms = 150): Promise<void> {
  await Promise.race([closed, new Promise((r) => setTimeout(r, ms))]);
  close();
}

before(async () => {
  site = await launchSite('Fuzzed', { diskMiB: 16 });
  nbdSocket = join(site.creds.dataDir, 'nbd.sock');
  const disk = (await vms(site)).flatMap((v) => v.disks)[0];
  assert.ok(disk);
  diskId = disk.diskId;
  wellBehaved = (await NbdConnection.open({ path: nbdSocket }, diskId)).conn;
  rssBefore = await rss();
});

after(async () => {
  wellBehaved?.destroy();
  await cleanupAgents();
});

describe('fuzzing a running agent', { timeout: 300_000 }, () => {
  it('the control channel: random, malformed and oversized JSON-RPC', async () => {
    const methods = Object.keys(agentMethods);
    const request = fc.record({
      jsonrpc: fc.oneof(fc.constant('2.0'), fc.string({ maxLength: 4 })),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)),
      method: fc.oneof(fc.constantFrom(...methods), fc.string({ maxLength: 30 })),
      params: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
    });
    const frame = fc.oneof(
      request.map((r) => JSON.stringify(r)),
      fc.array(request, { maxLength: 20 }).map((b) => JSON.stringify(b)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
      fc
        .integer({ min: 1, max: 3 * 1024 * 1024 })
        .map((n) => `{"jsonrpc":"2.0","id":1,"method":"vm.list","params":"${'x'.repeat(n)}"}`),
    );
    let fuzz: RawClient | undefined;
    let fuzzClosed = true;
    let hello = false;
    const connect = async (): Promise<RawClient> => {
      const client = await connectRaw(site.agent.url, {
        token: site.creds.token,
        fingerprint: site.creds.fingerprint,
      });
      hello = false;
      fuzzClosed = false;
      void client.closed.then(() => (fuzzClosed = true));
      return client;
    };
    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (data, afterHello) => {
        if (fuzz === undefined || fuzzClosed) fuzz = await connect();
        if (afterHello && !hello) {
          try {
            await fuzz.hello();
            hello = true;
          } catch {
            fuzzClosed = true; // an earlier frame got the connection closed: next time
            return;
          }
        }
        fuzz.send(data);
      }),
      { numRuns: 400, seed: SEED },
    );
    await new Promise((r) => setTimeout(r, 500));
    await fuzz?.close();
    await stillServing('after the control channel fuzzing');
  });

  it('the replication port: random frames before and after authentication', async () => {
    const stranger = await createSelfSignedIdentity({ commonName: 'stranger', altNames: [] });
    // A paired agent (it dials: its id is the smallest there is), for the frames after HELLO.
    const rogue: KeyPair = await createSelfSignedIdentity({ commonName: 'rogue', altNames: [] });
    const identity = {
      min: 1,
      max: 1,
      agentId: ROGUE_ID,
      siteId: randomUUID(),
      siteName: 'Rogue',
      address: '127.0.0.1:9',
    };
    const token = PairingTokenSchema.parse(await call(site, 'site.pairingToken'));
    const pairing = await connectPeer(token.address, rogue);
    pairing.sendJson(FrameType.PAIR, { ...identity, token: token.token });
    assert.equal((await pairing.nextFrame()).type, FrameType.PAIR_OK);
    pairing.close();

    const anyType = fc.integer({ min: 0, max: 255 });
    // Every type but UNPAIR (it would end the pairing the fuzzing needs).
    const knownType = fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) as fc.Arbitrary<number>;
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
      fc
        .record({ id: fc.integer(), method: fc.string({ maxLength: 20 }), params: fc.jsonValue() })
        .map((v) => Buffer.from(JSON.stringify(v))),
    );
    const raw = (type: number, body: Buffer, lie: number | undefined): Buffer => {
      const frame = encodeFrame(type as FrameTypeCode, body);
      if (lie !== undefined) frame.writeUInt32BE(lie, 0); // a length that does not match
      return frame;
    };
    const lie = fc.option(fc.integer({ min: 0, max: 0xffffffff }), { freq: 4 });

    const exchange = async (peer: PeerClient, bytes: Buffer): Promise<void> => {
      peer.write(bytes);
      await settle(() => peer.close(), peer.closed);
    };
    await fc.assert(
      fc.asyncProperty(
        anyType,
        payload,
        lie,
        fc.boolean(),
        async (type, body, length, withCert) => {
          const peer = await connectPeer(
            site.agent.replicationAddress,
            withCert ? stranger : undefined,
          );
          await exchange(peer, raw(type, body, length ?? undefined));
        },
      ),
      { numRuns: 150, seed: SEED },
    );
    await stillServing('after unauthenticated peer frames');

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(knownType, payload, lie), { minLength: 1, maxLength: 5 }),
        async (frames) => {
          const peer = await connectPeer(site.agent.replicationAddress, rogue);
          peer.sendJson(FrameType.HELLO, identity);
          const answer = await peer.nextFrame();
          assert.equal(answer.type, FrameType.HELLO, 'the paired agent is let in');
          await exchange(peer, Buffer.concat(frames.map(([t, b, l]) => raw(t, b, l ?? undefined))));
        },
      ),
      { numRuns: 150, seed: SEED },
    );
    await stillServing('after authenticated peer frames');
  });

  it('the NBD server: random negotiation and random requests on an export', async () => {
    const magic = Buffer.from('IHAVEOPT', 'latin1');
    const option = fc
      .tuple(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 64 }), fc.option(fc.nat()))
      .map(([opt, data, lying]) => {
        const header = Buffer.alloc(16);
        magic.copy(header);
        header.writeUInt32BE(opt, 8);
        header.writeUInt32BE(lying ?? data.length, 12);
        return Buffer.concat([header, Buffer.from(data)]);
      });
    const negotiation = fc.oneof(
      fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.integer({ min: 0, max: 7 }), fc.array(option, { maxLength: 6 }))
        .map(([flags, opts]) => {
          const f = Buffer.alloc(4);
          f.writeUInt32BE(flags);
          return Buffer.concat([f, ...opts]);
        }),
    );
    await fc.assert(
      fc.asyncProperty(negotiation, async (bytes) => {
        const conn = await NbdConnection.connect({ path: nbdSocket });
        await conn.take(18); // the greeting
        await conn.sendAndDrain(bytes);
        await conn.waitClosed(150);
        conn.destroy();
      }),
      { numRuns: 200, seed: SEED },
    );
    await stillServing('after NBD negotiation fuzzing');

    const request = fc
      .tuple(
        fc.oneof(fc.constantFrom(...Object.values(NBD_CMD)), fc.integer({ min: 0, max: 0xffff })),
        fc.integer({ min: 0, max: 0xffff }),
        fc.oneof(fc.integer({ min: 0, max: 32 * 1024 * 1024 }), fc.nat()),
        fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.constant(0xffffffff)),
        fc.uint8Array({ maxLength: 4096 }),
        fc.boolean(),
      )
      .map(([type, flags, offset, length, data, badMagic]) => {
        const header = Buffer.alloc(28);
        header.writeUInt32BE(badMagic ? 0xdeadbeef : 0x25609513, 0);
        header.writeUInt16BE(flags, 4);
        header.writeUInt16BE(type, 6);
        header.writeBigUInt64BE(123n, 8);
        header.writeBigUInt64BE(BigInt(offset), 16);
        header.writeUInt32BE(length >>> 0, 24);
        return Buffer.concat([header, Buffer.from(data)]);
      });
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 8 }), async (requests) => {
        const { conn } = await NbdConnection.open({ path: nbdSocket }, diskId);
        await conn.sendAndDrain(Buffer.concat(requests));
        await conn.waitClosed(150);
        conn.destroy();
      }),
      { numRuns: 200, seed: SEED },
    );
    await stillServing('after NBD request fuzzing');
  });

  it('kept its memory bounded and logged no crash', async () => {
    const grown = (await rss()) - rssBefore;
    process.stdout.write(
      `# agent RSS grew by ${Math.round(grown / 1024 / 1024)} MiB over the fuzzing\n`,
    );
    assert.ok(grown < 256 * 1024 * 1024, `RSS grew by ${grown} bytes`);
    const crashes = site.agent
      .logLines()
      .filter(
        (l) => l.level === 'fatal' || /internal error|uncaught|unhandled/i.test(String(l.msg)),
      );
    assert.deepEqual(crashes, []);
  });
});
