/**
 * Crash safety of the source pipeline with a real process crash: a child process writes
 * through the tap (disk writes deliberately slowed so records sit appended but not applied),
 * plays a fake target that persists what it reads from the outbox and then releases it, and
 * prints every acknowledged write. The parent kills it with SIGKILL mid-stream, reopens, and
 * checks the promises of replication/README.md:
 *   - the stream (target's copy + what the outbox still holds) is gap-free from seq 1;
 *   - every write the child reported as acknowledged is in it, once;
 *   - a write issued after another was acknowledged has a higher seq;
 *   - after redo each disk equals the replay of the whole stream from zeros.
 * The child is this same file, started with TIDELINE_CRASH_CHILD set.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { Prng } from '../../agent/hypervisor/sim/prng';
import { decodeRecord, type StreamRecord } from '../../agent/replication/record';
import type { OutboxCommitMode } from '../../agent/source/outbox';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';

const DISK_BYTES = 1024 * 1024;
const DISKS = ['d0', 'd1'];

interface ChildConfig {
  readonly dir: string;
  readonly commit: OutboxCommitMode;
  readonly seed: string;
}

async function openSource(config: ChildConfig): Promise<{ tap: DiskTap; source: VpgSource }> {
  const tap = new DiskTap();
  const disks = [];
  for (const id of DISKS) disks.push(await tap.attach(id, join(config.dir, `${id}.raw`)));
  const source = new VpgSource({
    vpgId: 'vpg-crash',
    dir: outboxDir(config.dir, 'vpg-crash'),
    disks,
    limitBytes: 1024 * 1024 * 1024,
    segmentBytes: 64 * 1024,
    commit: config.commit,
    syncIntervalMs: 20,
    checkpointIntervalMs: 15,
  });
  await source.open();
  for (const id of DISKS) await tap.protect(id, source);
  return { tap, source };
}

// ---- child ----

async function runChild(config: ChildConfig): Promise<void> {
  const { tap, source } = await openSource(config);
  // Slow, jittered disk writes: at any moment several records are appended but not applied.
  for (const id of DISKS) {
    const disk = tap.disk(id);
    const pwrite = disk.pwrite.bind(disk);
    disk.pwrite = async (data, offset) => {
      await sleep(Math.random() * 4);
      return pwrite(data, offset);
    };
  }
  // Fake target: persist what the sender may read, then release it.
  const target = await open(join(config.dir, 'target.stream'), 'a');
  let next = 1;
  const sender = async (): Promise<void> => {
    for (;;) {
      const bufs = await source.outbox.read(next, 256 * 1024);
      if (bufs.length > 0) {
        await target.writev(bufs);
        await target.datasync();
        const last = decodeRecord(bufs[bufs.length - 1] as Buffer);
        if (last.status !== 'ok') throw new Error('bad record from the outbox');
        next = last.record.seq + 1;
        await source.release(last.record.seq);
      }
      await sleep(5);
    }
  };
  void sender();
  const rng = new Prng(config.seed);
  let id = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      id += 1;
      const mine = id;
      const disk = DISKS[rng.int(0, 1)] as string;
      const length = 512 * rng.int(1, 64);
      const offset = 512 * rng.int(0, (DISK_BYTES - length) / 512);
      const data = Buffer.alloc(length, mine & 0xff);
      data.writeUInt32LE(mine, 0);
      // stdout to a pipe is synchronous on Linux: the line is out before the write starts.
      process.stdout.write(`issue ${mine}\n`);
      await tap.write(disk, offset, data);
      process.stdout.write(`ack ${mine}\n`);
    }
  };
  for (let i = 0; i < 16; i += 1) void writer();
}

// ---- parent ----

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface ChildLog {
  readonly lines: string[];
}

async function crashChild(config: ChildConfig, killAfterAcks: number): Promise<ChildLog> {
  const env: NodeJS.ProcessEnv = { ...process.env, TIDELINE_CRASH_CHILD: JSON.stringify(config) };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url)],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let acks = 0;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  for await (const line of createInterface({ input: child.stdout })) {
    lines.push(line);
    if (line.startsWith('ack ')) acks += 1;
    if (acks === killAfterAcks && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }
  await exited;
  clearTimeout(timer);
  assert.ok(acks >= killAfterAcks, `the child acknowledged ${acks} writes before it died`);
  return { lines };
}

function decodeStream(buf: Buffer): StreamRecord[] {
  const out: StreamRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    const d = decodeRecord(buf, at);
    if (d.status !== 'ok') break; // a torn append of the fake target: those are still held
    out.push(d.record);
    at += d.bytes;
  }
  return out;
}

async function checkAfterCrash(config: ChildConfig, log: ChildLog): Promise<void> {
  const targetCopy = decodeStream(await readFile(join(config.dir, 'target.stream')));
  const { tap, source } = await openSource(config);
  try {
    const held = (await source.outbox.read(source.outbox.firstSeq, Number.MAX_SAFE_INTEGER)).map(
      (b) => {
        const d = decodeRecord(b);
        assert.equal(d.status, 'ok');
        return (d as { record: StreamRecord }).record;
      },
    );
    // The whole stream: what the target persisted, then what the outbox still holds.
    const bySeq = new Map<number, StreamRecord>();
    for (const r of [...targetCopy, ...held]) {
      const seen = bySeq.get(r.seq);
      if (seen !== undefined) {
        assert.deepEqual(seen, r, `seq ${r.seq} is the same record in both places`);
      }
      bySeq.set(r.seq, r);
    }
    const last = Math.max(0, ...bySeq.keys());
    for (let s = 1; s <= last; s += 1) assert.ok(bySeq.has(s), `seq ${s} is missing`);
    assert.ok(targetCopy.length > 0, 'the fake target received records');
    assert.ok(source.outbox.lastSeq >= last, 'the sequence continues after the highest seq');

    // Every acknowledged write is in the stream exactly once; nothing unknown is.
    const seqOfWrite = new Map<number, number>();
    for (const r of bySeq.values()) {
      if (r.kind !== 'write') continue;
      const id = r.data.readUInt32LE(0);
      assert.ok(!seqOfWrite.has(id), `write ${id} appears twice`);
      seqOfWrite.set(id, r.seq);
    }
    const issued = new Set<number>();
    let maxAckedSeq = 0;
    let acked = 0;
    for (const line of log.lines) {
      const [what, n] = line.split(' ');
      const id = Number(n);
      if (what === 'issue') {
        issued.add(id);
        const seq = seqOfWrite.get(id);
        if (seq !== undefined) {
          assert.ok(seq > maxAckedSeq, `write ${id} issued after seq ${maxAckedSeq} was acked`);
        }
      } else if (what === 'ack') {
        acked += 1;
        const seq = seqOfWrite.get(id);
        assert.ok(seq !== undefined, `acknowledged write ${id} is in the outbox or was released`);
        maxAckedSeq = Math.max(maxAckedSeq, seq);
      }
    }
    for (const id of seqOfWrite.keys()) assert.ok(issued.has(id), `write ${id} was never issued`);
    assert.ok(acked > 0);

    // After redo, each disk equals the replay of the whole stream from zeros.
    const images = new Map(DISKS.map((id) => [id, Buffer.alloc(DISK_BYTES)]));
    for (let s = 1; s <= last; s += 1) {
      const r = bySeq.get(s) as StreamRecord;
      if (r.kind === 'write' || r.kind === 'seed')
        r.data.copy(images.get(r.diskId) as Buffer, r.offset);
      else if (r.kind === 'zero' || r.kind === 'trim') {
        (images.get(r.diskId) as Buffer).fill(0, r.offset, r.offset + r.length);
      }
    }
    for (const id of DISKS) {
      const disk = await readFile(join(config.dir, `${id}.raw`));
      assert.ok(
        disk.equals(images.get(id) as Buffer),
        `disk ${id} equals the replay of the stream`,
      );
    }
    const checkpoints = [...bySeq.values()].filter((r) => r.kind === 'checkpoint').length;
    assert.ok(checkpoints > 0, 'checkpoints were sequenced between the writes');
  } finally {
    await source.close();
    await tap.close();
  }
}

async function crashRun(
  commit: OutboxCommitMode,
  seed: string,
  killAfterAcks: number,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-crash-'));
  dirs.push(dir);
  for (const id of DISKS) await createSparseFile(join(dir, `${id}.raw`), DISK_BYTES);
  await appendFile(join(dir, 'target.stream'), Buffer.alloc(0));
  const config: ChildConfig = { dir, commit, seed };
  const log = await crashChild(config, killAfterAcks);
  await checkAfterCrash(config, log);
}

const childConfig = process.env.TIDELINE_CRASH_CHILD;
if (childConfig !== undefined) {
  await runChild(JSON.parse(childConfig) as ChildConfig);
} else {
  test("SIGKILL mid-stream ('fdatasync' commit): nothing acknowledged is lost; disks == replay", async () => {
    await crashRun('fdatasync', 'crash-a', 600);
  });

  test("SIGKILL mid-stream ('write' commit): nothing acknowledged is lost; disks == replay", async () => {
    await crashRun('write', 'crash-b', 900);
  });

  test("SIGKILL mid-stream ('background' commit, the daemon's): nothing acknowledged is lost; disks == replay", async () => {
    await crashRun('background', 'crash-c', 900);
  });
}
