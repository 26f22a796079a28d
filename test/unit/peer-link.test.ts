import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TidelineError } from '../../app/errors';
import { createServer, type TLSSocket } from 'node:tls';
import { FrameConnection } from '../../agent/peer/frame-connection';
import { PeersFileSchema } from '../../agent/peer/peer-store';
import { PeerService } from '../../agent/peer/peer-service';
import type { LinkTuning, PeerLink } from '../../agent/peer/peer-link';
import { FrameType } from '../../agent/peer/wire';
import {
  RECORD_TRAILER_BYTES,
  encodeRecord,
  type StreamRecord,
} from '../../agent/replication/record';
import { createSelfSignedIdentity, type TlsIdentity } from '../../agent/security/certificate';
import { connectPeer } from '../helpers/peer-client';

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
const TUNING: Partial<LinkTuning> = {
  keepaliveMs: 500,
  windowBytes: 64 * 1024,
  maxWindowBytes: 64 * 1024, // fixed: the tests count on this window
  batchBytes: 16 * 1024,
  handshakeTimeoutMs: 3_000,
  backoff: { initialMs: 50, maxMs: 200 },
};

interface Node {
  readonly agentId: string;
  readonly siteName: string;
  readonly dir: string;
  readonly identity: TlsIdentity;
  service: PeerService;
  port: number;
}

const dirs: string[] = [];
const running = new Set<PeerService>();

async function makeNode(agentId: string, siteName: string): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), `tideline-peer-${agentId}-`));
  dirs.push(dir);
  const identity = await createSelfSignedIdentity({
    commonName: `tideline-agent ${agentId}`,
    altNames: ['127.0.0.1'],
  });
  return {
    agentId,
    siteName,
    dir,
    identity,
    service: undefined as unknown as PeerService,
    port: 0,
  };
}

/** (Re)starts the node's peer service on its port (a free one the first time). */
async function start(node: Node, onLink?: (link: PeerLink) => void): Promise<PeerService> {
  const service = new PeerService({
    agentId: node.agentId,
    siteId: `site-${node.agentId}`,
    fingerprint: node.identity.fingerprint,
    siteName: () => node.siteName,
    tls: node.identity,
    listen: { host: '127.0.0.1', port: node.port },
    peersFile: join(node.dir, 'peers.json'),
    log: log.child({ agent: node.agentId }),
    tuning: TUNING,
    pairingTokenTtlMs: 60_000,
    onPeersChanged: () => undefined,
  });
  if (onLink !== undefined) service.events.on('link', onLink);
  const endpoint = await service.start();
  node.port = endpoint.port;
  node.service = service;
  running.add(service);
  return service;
}

async function stop(node: Node): Promise<void> {
  running.delete(node.service);
  await node.service.stop();
}

async function connected(link: PeerLink | undefined): Promise<PeerLink> {
  assert.ok(link, 'link exists');
  if (link.state !== 'connected') await once(link, 'up');
  return link;
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ───────────── a minimal replication engine on each side, for the link's tests ─────────────

function record(seq: number, bytes = 2000): Buffer {
  return encodeRecord({
    kind: 'write',
    vpgId: 'vpg-1',
    seq,
    sourceTime: 1_700_000_000_000 + seq,
    diskId: 'disk-1',
    offset: seq * 4096,
    data: Buffer.alloc(bytes, seq & 0xff),
  });
}

/** Target: persists in seq order, ignores duplicates, refuses gaps; answers positions. */
class TargetJournal {
  persisted = 0;
  readonly records: StreamRecord[] = [];
  /** Records handed to each handler call. */
  readonly calls: number[] = [];
  gate: Promise<void> | undefined;
  attach(link: PeerLink): void {
    link.onRecords(async (_vpgId, received) => {
      this.calls.push(received.length);
      await this.gate;
      for (const { record: r } of received) {
        if (r.seq <= this.persisted) continue;
        if (r.seq !== this.persisted + 1)
          throw new Error(`gap: got ${r.seq} after ${this.persisted}`);
        this.records.push(r.kind === 'write' ? { ...r, data: Buffer.from(r.data) } : r);
        this.persisted = r.seq;
      }
      return this.persisted;
    });
    link.onPositionRequest(() => this.persisted);
  }
}

const journal = new TargetJournal();
const a = { node: undefined as unknown as Node };
const b = { node: undefined as unknown as Node };

before(async () => {
  a.node = await makeNode('agent-a', 'Site A'); // sorts first: dials
  b.node = await makeNode('agent-b', 'Site B'); // accepts
  await start(a.node);
  await start(b.node, (link) => journal.attach(link));
});

after(async () => {
  await Promise.all([...running].map((s) => s.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('peer link (two in-process agents over real TLS on 127.0.0.1)', () => {
  it('pairs with a token: both pin each other, persist it, and connect one link', async () => {
    const token = a.node.service.pairingToken();
    assert.equal(token.address, `127.0.0.1:${a.node.port}`);
    assert.equal(token.fingerprint, a.node.identity.fingerprint);
    const peer = await b.node.service.pair({
      address: token.address,
      token: token.token,
      fingerprint: token.fingerprint,
    });
    assert.equal(peer.agentId, 'agent-a');
    assert.equal(peer.fingerprint, a.node.identity.fingerprint);

    const ab = await connected(a.node.service.link('agent-b'));
    const ba = await connected(b.node.service.link('agent-a'));
    assert.equal(ab.role, 'dialer');
    assert.equal(ba.role, 'acceptor');
    const [onA] = a.node.service.list();
    assert.equal(onA?.fingerprint, b.node.identity.fingerprint, 'A pinned B from its TLS cert');
    assert.equal(onA?.link, 'connected');
    assert.equal(b.node.service.list()[0]?.link, 'connected');
    for (const node of [a.node, b.node]) {
      const file = PeersFileSchema.parse(
        JSON.parse(await readFile(join(node.dir, 'peers.json'), 'utf8')),
      );
      assert.equal(file.peers.length, 1);
    }
    // the token was single use; pairing again is refused before any token is spent
    await assert.rejects(
      b.node.service.pair({
        address: token.address,
        token: a.node.service.pairingToken().token,
        fingerprint: token.fingerprint,
      }),
      (err: unknown) => err instanceof TidelineError && err.code === 'ALREADY_EXISTS',
    );
    await assert.rejects(
      a.node.service.pair({
        address: token.address,
        token: token.token,
        fingerprint: token.fingerprint,
      }),
      (err: unknown) =>
        err instanceof TidelineError && err.code === 'CONFLICT' && /itself/.test(err.message),
    );
  });

  it('carries control requests both ways, with typed errors', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const ba = await connected(b.node.service.link('agent-a'));
    b.node.service.handleControl('test.echo', (params, caller) => ({
      params,
      from: caller.agentId,
    }));
    b.node.service.handleControl('test.fail', () => {
      throw new TidelineError('CONFLICT', 'VPG vpg-9 is configured differently here');
    });
    assert.deepEqual(await ab.request('test.echo', { x: 1 }), {
      params: { x: 1 },
      from: 'agent-a',
    });
    assert.deepEqual(((await ba.request('peer.ping')) as { agentId: string }).agentId, 'agent-a');
    await assert.rejects(ab.request('test.fail'), /configured differently/);
    await assert.rejects(
      ab.request('no.such'),
      (err: unknown) => err instanceof TidelineError && err.code === 'METHOD_NOT_FOUND',
    );
  });

  it('streams records in order and acknowledges them', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const acks: number[] = [];
    const off = ab.onAck((vpgId, seq) => vpgId === 'vpg-1' && acks.push(seq));
    for (let first = 1; first <= 200; first += 50) {
      await ab.sendRecords(
        'vpg-1',
        Array.from({ length: 50 }, (_, i) => record(first + i)),
      );
    }
    await waitFor(() => acks.at(-1) === 200, 'the ack of seq 200');
    off();
    assert.deepEqual(
      journal.records.map((r) => r.seq),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      acks,
      [...acks].sort((x, y) => x - y),
      'acks in order',
    );
    assert.equal(ab.unackedBytes('vpg-1'), 0);
    assert.equal(await ab.requestPosition('vpg-1'), 200);
  });

  it('holds sends beyond the window until the target acknowledges', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    let open: () => void = () => undefined;
    journal.gate = new Promise<void>((resolve) => (open = resolve));
    let done = false;
    const sending = ab
      .sendRecords(
        'vpg-1',
        Array.from({ length: 40 }, (_, i) => record(201 + i, 8000)),
      )
      .then(() => (done = true));
    await waitFor(() => ab.unackedBytes('vpg-1') > 48 * 1024, 'a full window');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done, false, 'sendRecords waits for room in the window');
    assert.ok(ab.unackedBytes('vpg-1') <= 64 * 1024, `${ab.unackedBytes('vpg-1')} ≤ window`);
    assert.equal(journal.persisted, 200);
    open();
    journal.gate = undefined;
    await sending;
    await waitFor(() => journal.persisted === 240, 'all 240 persisted');
    await waitFor(() => ab.unackedBytes('vpg-1') === 0, 'everything acknowledged');
  });

  it('hands the frames that arrive during a slow persist to one call (group commit)', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const acks: number[] = [];
    const off = ab.onAck((vpgId, seq) => vpgId === 'vpg-1' && acks.push(seq));
    let open: () => void = () => undefined;
    journal.gate = new Promise<void>((resolve) => (open = resolve));
    const callsBefore = journal.calls.length;
    // 8000-byte records, 16 KiB frames: 2 records a frame, 4 frames within the 64 KiB window
    const sending = ab.sendRecords(
      'vpg-1',
      Array.from({ length: 14 }, (_, i) => record(241 + i, 8000)),
    );
    await waitFor(() => ab.unackedBytes('vpg-1') > 48 * 1024, 'a full window');
    await new Promise((r) => setTimeout(r, 100)); // every frame of the window has arrived
    open();
    journal.gate = undefined;
    await sending;
    await waitFor(() => journal.persisted === 254, 'all 14 persisted');
    off();
    const calls = journal.calls.slice(callsBefore);
    assert.equal(calls[0], 2, 'the first frame alone, while the others were still on the way');
    assert.equal(calls[1], 6, `the 3 frames that waited, in one call (calls: ${calls.join(', ')})`);
    assert.equal(acks.length, calls.length, 'one ACK per call');
    assert.equal(acks.at(-1), 254);
    assert.deepEqual(
      journal.records.slice(240).map((r) => r.seq),
      Array.from({ length: 14 }, (_, i) => 241 + i),
    );
  });

  it('refuses a frame whose record fails its checksum, and persists nothing of it', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const before = journal.persisted;
    await ab.sendRecords('vpg-1', [record(before + 1)]);
    await waitFor(() => journal.persisted === before + 1, 'the good record persisted');
    // A data byte changed in flight: the record's length and VPG still look right.
    const bad = record(before + 2);
    const at = bad.length - RECORD_TRAILER_BYTES - 1;
    bad.writeUInt8(bad.readUInt8(at) ^ 0xff, at);
    const down = once(ab, 'down');
    await ab.sendRecords('vpg-1', [bad, record(before + 3)]).catch(() => undefined);
    await down;
    assert.equal(journal.persisted, before + 1, 'nothing of the corrupt frame');
    await connected(ab); // the dialer comes back; the source would resend from the position
    assert.equal(await ab.requestPosition('vpg-1'), before + 1);
  });

  it('reconnects after the target restarts, and resumes from its position', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const total = 400;
    const down = once(ab, 'down');
    // the target goes away while the source is sending
    let open: () => void = () => undefined;
    journal.gate = new Promise<void>((resolve) => (open = resolve));
    const sending = ab.sendRecords(
      'vpg-1',
      Array.from({ length: 60 }, (_, i) => record(255 + i, 4000)),
    );
    await waitFor(() => ab.unackedBytes('vpg-1') > 0, 'records in flight');
    await stop(b.node);
    await down;
    await assert.rejects(
      sending,
      (err: unknown) =>
        err instanceof TidelineError && ['CONNECTION_CLOSED', 'UNAVAILABLE'].includes(err.code),
    );
    await assert.rejects(ab.sendRecords('vpg-1', [record(999)]), /not connected/);
    journal.gate = undefined;
    open();
    assert.notEqual(a.node.service.list()[0]?.link, 'connected');

    // it comes back on the same port, with the same peers.json; the dialer reconnects
    await start(b.node, (link) => journal.attach(link));
    await connected(ab);
    const position = await ab.requestPosition('vpg-1');
    assert.equal(position, journal.persisted);
    for (let next = position + 1; next <= total; next += 25) {
      const count = Math.min(25, total - next + 1);
      await ab.sendRecords(
        'vpg-1',
        Array.from({ length: count }, (_, i) => record(next + i, 4000)),
      );
    }
    await waitFor(() => journal.persisted === total, `seq ${total} persisted`);
    assert.deepEqual(
      journal.records.map((r) => r.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      'no gap, no duplicate',
    );
  });

  it('reconnects after the dialer restarts', async () => {
    await stop(a.node);
    const ba = b.node.service.link('agent-a');
    assert.ok(ba);
    await waitFor(() => ba.state !== 'connected', 'B sees the link down');
    await start(a.node);
    await connected(a.node.service.link('agent-b'));
    await connected(ba);
    assert.equal(await a.node.service.link('agent-b')?.requestPosition('vpg-1'), 400);
  });

  it('refuses unpaired certificates, missing certificates, bad tokens and oversized frames', async () => {
    const stranger = await createSelfSignedIdentity({ commonName: 'x', altNames: ['127.0.0.1'] });
    const hello = {
      min: 1,
      max: 1,
      agentId: 'agent-x',
      siteId: 'site-x',
      siteName: 'Stranger',
      address: '127.0.0.1:1',
    };
    const address = `127.0.0.1:${a.node.port}`;

    const unknown = await connectPeer(address, stranger);
    unknown.sendJson(FrameType.HELLO, hello);
    const notPaired = await unknown.refused();
    assert.equal(notPaired.reason, 'not-paired');
    assert.match(notPaired.message, /Site "Site A" is not paired with this agent/);
    await unknown.closed;

    const anonymous = await connectPeer(address);
    anonymous.sendJson(FrameType.HELLO, hello);
    assert.equal((await anonymous.refused()).reason, 'no-certificate');

    // B's certificate with another agent id is not B
    const impostor = await connectPeer(address, b.node.identity);
    impostor.sendJson(FrameType.HELLO, { ...hello, agentId: 'agent-0' });
    assert.equal((await impostor.refused()).reason, 'not-paired');

    const guess = await connectPeer(address, stranger);
    guess.sendJson(FrameType.PAIR, { ...hello, token: 'A'.repeat(43) });
    const bad = await guess.refused();
    assert.equal(bad.reason, 'token-invalid');
    assert.match(bad.message, /ask for a new one on site "Site A"/);

    const big = await connectPeer(address, stranger);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1024 * 1024, 0);
    header.writeUInt8(FrameType.HELLO, 4);
    big.write(header);
    const tooLarge = await big.refused();
    assert.equal(tooLarge.reason, 'frame-too-large');
    assert.equal(tooLarge.code, 'FRAME_TOO_LARGE');
  });

  it('compresses what it sends with lz4 when the admin sets it, and only what pays', async () => {
    const ab = await connected(a.node.service.link('agent-b'));
    const peer = await a.node.service.setCompression({ agentId: 'agent-b', compression: 'lz4' });
    assert.equal(peer.compression, 'lz4');
    const saved = PeersFileSchema.parse(
      JSON.parse(await readFile(join(a.node.dir, 'peers.json'), 'utf8')),
    );
    assert.equal(saved.peers[0]?.compression, 'lz4', 'persisted');
    const traffic = (): { recordBytes: number; wireBytes: number } =>
      ab.describe().traffic ?? assert.fail('traffic of a connected link');
    const first = journal.persisted + 1;
    const before = traffic();
    // Filled records (as zeroed or repeated guest blocks): they shrink to almost nothing.
    const filled = Array.from({ length: 20 }, (_, i) => record(first + i, 8000));
    const wire = await ab.sendRecords('vpg-1', filled);
    await waitFor(() => journal.persisted === first + 19, 'the compressed records persisted');
    const sent = traffic();
    assert.ok(sent.recordBytes - before.recordBytes > 160_000);
    assert.equal(sent.wireBytes - before.wireBytes, wire, 'sendRecords tells the wire bytes');
    assert.ok(wire < (sent.recordBytes - before.recordBytes) / 10, `${wire} on the wire`);
    for (const [i, r] of journal.records.slice(-20).entries()) {
      assert.equal(r.seq, first + i);
      assert.ok(r.kind === 'write' && r.data.equals(Buffer.alloc(8000, (first + i) & 0xff)));
    }
    // Random data does not shrink: it goes as it is.
    const random = encodeRecord({
      kind: 'write',
      vpgId: 'vpg-1',
      seq: first + 20,
      sourceTime: 1_700_000_000_000,
      diskId: 'disk-1',
      offset: 0,
      data: randomBytes(12_000),
    });
    const randomWire = await ab.sendRecords('vpg-1', [random]);
    assert.ok(randomWire >= random.length, `${randomWire} ≥ ${random.length}`);
    await waitFor(() => journal.persisted === first + 20, 'the random record persisted');
    await a.node.service.setCompression({ agentId: 'agent-b', compression: 'off' });
    assert.equal(a.node.service.list()[0]?.compression, 'off');
  });

  it('refuses to set compression for an agent it is not paired with', async () => {
    await assert.rejects(
      a.node.service.setCompression({ agentId: 'agent-z', compression: 'lz4' }),
      (err: TidelineError) => err.code === 'NOT_FOUND' && /not paired/.test(err.message),
    );
  });

  it('unpair: both sides forget, the link closes, and the old certificate is refused', async () => {
    const ba = await connected(b.node.service.link('agent-a'));
    const forgotten = once(b.node.service.events, 'unlink');
    const down = once(ba, 'down');
    await a.node.service.unpair('agent-b');
    assert.deepEqual(a.node.service.list(), []);
    await down;
    assert.deepEqual(await forgotten, ['agent-a']);
    assert.deepEqual(b.node.service.list(), []);
    for (const node of [a.node, b.node]) {
      const file = PeersFileSchema.parse(
        JSON.parse(await readFile(join(node.dir, 'peers.json'), 'utf8')),
      );
      assert.deepEqual(file.peers, []);
    }
    const again = await connectPeer(`127.0.0.1:${a.node.port}`, b.node.identity);
    again.sendJson(FrameType.HELLO, {
      min: 1,
      max: 1,
      agentId: 'agent-b',
      siteId: 'site-agent-b',
      siteName: 'Site B',
      address: `127.0.0.1:${b.node.port}`,
    });
    assert.equal((await again.refused()).reason, 'not-paired');
    await assert.rejects(
      a.node.service.unpair('agent-b'),
      (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
    );
  });
});

describe('frame connection keepalive', () => {
  it('pings, and cuts off a peer that stays silent for three intervals', async () => {
    const identity = await createSelfSignedIdentity({ commonName: 'k', altNames: ['127.0.0.1'] });
    const accepted: FrameConnection[] = [];
    const server = createServer(
      { key: identity.keyPem, cert: identity.certPem },
      (socket: TLSSocket) => {
        const conn = new FrameConnection(socket, 1024, log);
        conn.setHandler(() => undefined);
        conn.startKeepalive(50);
        accepted.push(conn);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const client = await connectPeer(`127.0.0.1:${port}`);
      assert.equal((await client.nextFrame()).type, FrameType.PING);
      const refused = await client.refused(); // the client never answers the pings
      assert.equal(refused.reason, 'silent');
      await waitFor(() => accepted.length === 1, 'the accepted connection');
      const info = await accepted[0]?.closed;
      assert.match(info?.reason ?? '', /^silent: Nothing received for/);
      await client.closed;
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
