#!/usr/bin/env node
// Replication throughput: the sustained rate at which writes are persisted in the recovery
// site's journal, between two real tideline-agent processes (built bundle) on 127.0.0.1,
// against an anchor run in the same script: a plain TLS 1.3 stream (mutual, with the agents'
// own certificates) of the same number of bytes, in the same write sizes, between two Node
// child processes, the receiver only counting bytes. The ratio journal/anchor is what the
// whole pipeline (workload, tap, sequencer, outbox group commit + fdatasync, sender, RECORDS
// frames, journal append + fdatasync, ACK) costs over the bare TLS stream.
//
// "Persisted in the journal" is measured at the recovery site: the target's vpg.state
// `journalBytes` (the journal's segment bytes, raised only after a batch's fdatasync, before
// its ACK), sampled over a steady window after a warm-up. The workload is set far above what
// the pipeline can carry, so the source's outbox backlog grows during the window; its growth is
// printed (the agents run with a 16 GiB outbox limit, so the window ends before bitmap mode).
// Journal bytes include each record's header/trailer (~60 bytes per record, <0.1% at the default
// mix); the anchor streams the workload's data bytes.
//
// Usage: npm run build && node --import tsx bench/replication.mjs [--seconds 20] [--warmup 6]
//          [--vms all|N] [--sim-vms N] [--rate-mib 2048] [--anchor-runs 3] [--pin] [--profile DIR]
//          [--content random|text] [--compression off|lz4] [--link-mbit N]
//          [--journal-limit-mib N] [--target-root DIR]
//   --content: what the sim VMs write (random by default; text compresses to ≈ 1/3 with lz4).
//   --compression: the source agent's site.setLinkCompression; the bytes on the wire and their
//          share of the record bytes are printed.
//   --link-mbit: a bandwidth policy on the site link (the agents' own limit, counted on the
//          wire), as a WAN would hold it.
//   --journal-limit-mib: the VPG's journal hard limit (default 64 GiB, which the window never
//          reaches). A limit the warm-up fills makes the recovery agent apply the oldest records
//          to the replicas as it takes new ones, as in steady state; the journal's size then
//          stays flat, so the rate is measured as the record bytes sent (at most the 16 MiB
//          window ahead of the journal).
//   --target-root: the recovery agent's data directory under DIR, another file system than the
//          source's (here, a tmpfs): the sites then do not share one disk, as on two hosts.
//   --pin: the source agent (and the anchor's sender) on CPU 0, the recovery agent (and the
//          anchor's receiver) on CPU 1 (taskset), so each side's cost is its own core's.
//   --profile: CPU profiles of both agents (bench/cpu-profile.mjs); summarize with
//          node bench/profile-summary.mjs DIR/source/*.cpuprofile
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  launchPairedSites,
  loadAverage,
  mainThreadCpuSeconds,
  processCpuSeconds,
  processRssMiB,
} from './lib/sites.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '6' },
    vms: { type: 'string', default: 'all' },
    'anchor-runs': { type: 'string', default: '3' },
    'rate-mib': { type: 'string', default: '2048' },
    'disk-mib': { type: 'string', default: '1024' },
    'sim-vms': { type: 'string' },
    pin: { type: 'boolean', default: false },
    content: { type: 'string', default: 'random' },
    compression: { type: 'string', default: 'off' },
    'link-mbit': { type: 'string' },
    'journal-limit-mib': { type: 'string' },
    'target-root': { type: 'string' },
    profile: { type: 'string' },
    // Internal: the anchor's child processes.
    role: { type: 'string' },
    port: { type: 'string' },
    dir: { type: 'string' },
    bytes: { type: 'string' },
  },
});

const MiB = 1024 * 1024;
const OUTBOX_LIMIT_MIB = 16 * 1024;
/** The sim workload's default mix (agent/hypervisor/sim/workload-mix.ts). */
const MIX = [
  [4096, 0.6],
  [65536, 0.3],
  [1048576, 0.1],
];

if (values.role === 'server') await anchorServer();
else if (values.role === 'client') await anchorClient();
else await main();

// ───────────────────────────── the anchor's two processes ─────────────────────────────

function tlsOptions(dir) {
  return {
    key: readFileSync(join(dir, 'tls/key.pem')),
    cert: readFileSync(join(dir, 'tls/cert.pem')),
    minVersion: 'TLSv1.3',
  };
}

/** Counts bytes; prints `{bytes, seconds}` from the first byte to the last. */
async function anchorServer() {
  const expected = Number(values.bytes);
  const server = tlsServer({
    ...tlsOptions(values.dir),
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on('secureConnection', (socket) => {
    socket.setNoDelay(true);
    let got = 0;
    let started = 0n;
    socket.on('data', (chunk) => {
      if (got === 0) started = process.hrtime.bigint();
      got += chunk.length;
      if (got >= expected) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        process.stdout.write(`${JSON.stringify({ bytes: got, seconds, cpu: cpuSeconds() })}\n`);
        socket.end();
        server.close();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
}

/** Writes `bytes` in the workload's write sizes (a seeded draw), honouring back-pressure. */
async function anchorClient() {
  const total = Number(values.bytes);
  const pool = Buffer.allocUnsafe(8 * MiB);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((i * 2654435761) >>> 0, i);
  const socket = tlsConnect({
    ...tlsOptions(values.dir),
    host: '127.0.0.1',
    port: Number(values.port),
    rejectUnauthorized: false,
  });
  await new Promise((ok, fail) => socket.once('secureConnect', ok).once('error', fail));
  socket.setNoDelay(true);
  let state = 0x9e3779b9;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const drawSize = () => {
    let r = random();
    for (const [size, weight] of MIX) if ((r -= weight) < 0) return size;
    return MIX[MIX.length - 1][0];
  };
  let sent = 0;
  while (sent < total) {
    const size = Math.min(drawSize(), total - sent);
    const from = Math.floor(random() * (pool.length - size));
    sent += size;
    if (!socket.write(pool.subarray(from, from + size))) {
      await new Promise((ok) => socket.once('drain', ok));
    }
  }
  await new Promise((ok) => socket.once('end', ok).resume());
  socket.destroy();
  process.stdout.write(`${JSON.stringify({ cpu: cpuSeconds() })}\n`);
}

/** This process's user + system CPU seconds so far. */
function cpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function lines(child) {
  const out = [];
  const waiters = [];
  let partial = '';
  child.stdout.on('data', (d) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else out.push(line);
    }
  });
  return () =>
    out.length > 0 ? Promise.resolve(out.shift()) : new Promise((ok) => waiters.push(ok));
}

/** A site-link bandwidth policy of `mbit` Mbit/s for replication and seeding, at all times. */
async function limitLink(site, mbit) {
  const { call } = await import('../test/helpers/replication-sites.ts');
  const peer = (await call(site, 'site.peers', {}))[0];
  const target = { kind: 'link', peerAgentId: peer.agentId };
  const current = await call(site, 'policy.get', { target });
  const bits = mbit * 1_000_000;
  await call(site, 'policy.set', {
    target,
    policy: {
      schemaVersion: 1,
      version: current.policy?.version ?? 0,
      timeZone: 'UTC',
      default: {
        rpoTargetSeconds: 600,
        replicationBitsPerSecond: bits,
        seedingBitsPerSecond: bits,
      },
      timeframes: [],
    },
  });
}

/** [program, args] of a Node child, on one CPU with --pin. */
function pinned(cpu, args) {
  return values.pin
    ? ['taskset', ['-c', String(cpu), process.execPath, ...args]]
    : [process.execPath, args];
}

/** Puts every thread of `pid` (and the threads it starts later) on `cpu`. */
function pin(pid, cpu) {
  const result = spawnSync('taskset', ['-a', '-c', '-p', String(cpu), String(pid)], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`taskset of ${pid} failed: ${result.stderr}`);
}

/** One anchor run: a TLS server and a client process; resolves bytes/s and CPU seconds. */
async function runAnchor(certDirs, bytes) {
  const self = fileURLToPath(import.meta.url);
  const server = spawn(
    ...pinned(1, [self, '--role', 'server', '--dir', certDirs[1], '--bytes', String(bytes)]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const next = lines(server);
  const port = await next();
  const client = spawn(
    ...pinned(0, [
      self,
      '--role',
      'client',
      '--dir',
      certDirs[0],
      '--port',
      port,
      '--bytes',
      String(bytes),
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const clientDone = lines(client)();
  const result = JSON.parse(await next());
  const sender = JSON.parse(await clientDone);
  await Promise.all([server, client].map((c) => new Promise((ok) => c.once('exit', ok))));
  return { rate: result.bytes / result.seconds, cpu: { sender: sender.cpu, receiver: result.cpu } };
}

// ───────────────────────────── the replication run ─────────────────────────────

async function main() {
  const windowSeconds = Number(values.seconds);
  const warmupSeconds = Number(values.warmup);
  const vmCount = values.vms === 'all' ? Infinity : Number(values.vms);
  const ratePerVm = Number(values['rate-mib']) * MiB;
  const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
  const load = loadAverage;
  console.log(`load average before: ${load()}`);
  const { hq, dr, drRoot, sites, agents } = await launchPairedSites({
    diskMiB: Number(values['disk-mib']),
    ...(values['sim-vms'] !== undefined && { simVms: Number(values['sim-vms']) }),
    // The workload outruns the pipeline on purpose: the backlog must stay in the outbox (not
    // switch to bitmap mode) for the whole run, however fast the pipeline gets.
    runArgs: ['--outbox-limit-mib', String(OUTBOX_LIMIT_MIB)],
    profileDir,
    targetRoot: values['target-root'],
  });
  const { createVpg, setWorkload, vms, vpgState, call, sleep } = sites;
  if (values.pin) {
    pin(hq.agent.process.pid, 0);
    pin(dr.agent.process.pid, 1);
  }
  try {
    const chosen = (await vms(hq)).slice(0, vmCount);
    const vmIds = chosen.map((vm) => vm.vmId);
    const diskCount = chosen.reduce((n, vm) => n + vm.disks.length, 0);
    const journalLimitMiB = Number(values['journal-limit-mib'] ?? 64 * 1024);
    const vpg = await createVpg(hq, dr, {
      vmIds,
      checkpointIntervalMs: 2000,
      rpoTargetSeconds: 30,
      journal: {
        historySeconds: 3600,
        hardLimitBytes: journalLimitMiB * MiB,
        warningBytes: Math.floor(journalLimitMiB * 0.75) * MiB,
      },
    });
    await sites.untilVpg(hq, vpg.vpgId, sites.isStatus('Protecting', 'RpoNotMet'), 'protecting');
    const drAgentId = (await call(hq, 'site.peers', {}))[0].agentId;
    await call(hq, 'site.setLinkCompression', {
      agentId: drAgentId,
      compression: values.compression,
    });
    if (values['link-mbit'] !== undefined) await limitLink(hq, Number(values['link-mbit']));
    for (const vmId of vmIds) {
      await setWorkload(hq, vmId, ratePerVm, { content: values.content });
    }
    const traffic = async () =>
      (await call(hq, 'site.peers', {})).find((p) => p.agentId === drAgentId)?.traffic ?? {
        recordBytes: 0,
        wireBytes: 0,
      };

    const sample = async () => {
      const [target, source] = await Promise.all([
        vpgState(dr, vpg.vpgId),
        vpgState(hq, vpg.vpgId),
      ]);
      return { at: performance.now(), journal: target.journalBytes, source };
    };
    const workloadBytes = async () => {
      const { workloads } = await call(hq, 'vm.workload', {});
      return workloads.filter((w) => vmIds.includes(w.vmId)).reduce((n, w) => n + w.bytes, 0);
    };
    await sleep(warmupSeconds * 1000);
    const cpuOf = () => [hq, dr].map((site) => processCpuSeconds(site.agent.process.pid));
    // The event loop's own thread: JS, TLS, and the syscalls made on it (the rest is libuv's
    // pool and V8's helper threads).
    const mainCpuOf = () => [hq, dr].map((site) => mainThreadCpuSeconds(site.agent.process.pid));
    const firstMainCpu = mainCpuOf();
    const firstCpu = cpuOf();
    const first = await sample();
    const firstTraffic = await traffic();
    const firstWritten = await workloadBytes().catch(() => undefined);
    const rpos = [];
    while (performance.now() - first.at < windowSeconds * 1000) {
      await sleep(1000);
      rpos.push((await vpgState(hq, vpg.vpgId)).rpoSeconds ?? NaN);
    }
    const last = await sample();
    const lastTraffic = await traffic();
    const lastCpu = cpuOf();
    const lastMainCpu = mainCpuOf();
    const lastWritten = await workloadBytes().catch(() => undefined);
    const rss = [hq, dr].map((site) => processRssMiB(site.agent.process.pid));
    const seconds = (last.at - first.at) / 1000;
    const applying = values['journal-limit-mib'] !== undefined;
    const persistedBytes = applying
      ? lastTraffic.recordBytes - firstTraffic.recordBytes
      : last.journal - first.journal;
    const journalRate = persistedBytes / seconds;
    const writtenRate =
      firstWritten === undefined || lastWritten === undefined
        ? undefined
        : (lastWritten - firstWritten) / seconds;
    for (const vmId of vmIds) await setWorkload(hq, vmId, 0);
    const loadDuring = load();
    if (profileDir !== undefined) {
      // The agents' output, with the collector's --trace-gc lines (bench/cpu-profile.mjs).
      for (const [site, name] of [
        [hq, 'source'],
        [dr, 'target'],
      ]) {
        mkdirSync(join(profileDir, name), { recursive: true });
        writeFileSync(join(profileDir, name, 'agent-output.log'), site.agent.logs());
      }
    }
    // Nothing of the agents may compete with the anchor (a backlog would still be draining).
    for (const site of [hq, dr]) {
      await site.client.close();
      await site.agent.stop();
    }

    const anchorBytes = Math.max(256 * MiB, Math.round(persistedBytes));
    // The machine may be shared: the anchor runs a few times, the median run counts.
    const anchors = [];
    for (let i = 0; i < Number(values['anchor-runs']); i += 1) {
      anchors.push(await runAnchor([hq.creds.dataDir, dr.creds.dataDir], anchorBytes));
    }
    anchors.sort((x, y) => x.rate - y.rate);
    const anchor = anchors[Math.floor(anchors.length / 2)];
    const anchorRate = anchor.rate;
    const journalGiB = persistedBytes / 1024 ** 3;
    const perGiB = (cpu) => `${cpu.toFixed(2)} s`;

    const mibs = (r) => `${(r / MiB).toFixed(1)} MiB/s`;
    console.log(
      `replication: ${vmIds.length} VMs (8 writes in flight each) at ${values['rate-mib']} MiB/s each (default mix, ${values.content} data), ${seconds.toFixed(1)} s window after ${warmupSeconds} s warm-up`,
    );
    const recordBytes = lastTraffic.recordBytes - firstTraffic.recordBytes;
    const wireBytes = lastTraffic.wireBytes - firstTraffic.wireBytes;
    console.log(
      `  link: compression ${values.compression}${values['link-mbit'] === undefined ? '' : `, limited to ${values['link-mbit']} Mbit/s`}; on the wire ${mibs(wireBytes / seconds)}, ${recordBytes > 0 ? ((100 * wireBytes) / recordBytes).toFixed(1) : '—'} % of the record bytes sent`,
    );
    if (drRoot !== undefined) {
      const fs = spawnSync('stat', ['-f', '-c', '%T', drRoot], { encoding: 'utf8' }).stdout.trim();
      console.log(`  the recovery agent's data on ${drRoot} (${fs}): the sites share no disk`);
    }
    if (values.pin)
      console.log(
        '  pinned (taskset): source agent and anchor sender on CPU 0, recovery agent and anchor receiver on CPU 1',
      );
    console.log(
      applying
        ? `  persisted in the recovery journal ${mibs(journalRate)} (records sent; the journal, limited to ${journalLimitMiB} MiB, applies as it takes: ${(first.journal / MiB).toFixed(0)} → ${(last.journal / MiB).toFixed(0)} MiB over the window)`
        : `  persisted in the recovery journal ${mibs(journalRate)}`,
    );
    if (writtenRate !== undefined)
      console.log(`  written by the workload (source)  ${mibs(writtenRate)}`);
    console.log(
      `  source backlog ${(first.source.backlogBytes / MiB).toFixed(0)} → ${(last.source.backlogBytes / MiB).toFixed(0)} MiB; RPO ${rpos.map((r) => r.toFixed(0)).join(' ')} s`,
    );
    console.log(
      `  anchor: plain mutual TLS 1.3 stream of ${(anchorBytes / MiB).toFixed(0)} MiB, same write sizes, two processes: ${mibs(anchorRate)} (median of ${anchors.map((a) => (a.rate / MiB).toFixed(0)).join(', ')})`,
    );
    console.log(`  ratio journal/anchor ${(journalRate / anchorRate).toFixed(2)}`);
    console.log(
      `  CPU seconds per GiB (user + system, all threads): source agent ${perGiB((lastCpu[0] - firstCpu[0]) / journalGiB)}, recovery agent ${perGiB((lastCpu[1] - firstCpu[1]) / journalGiB)}; anchor sender ${perGiB(anchor.cpu.sender / (anchorBytes / 1024 ** 3))}, receiver ${perGiB(anchor.cpu.receiver / (anchorBytes / 1024 ** 3))}`,
    );
    console.log(
      `    of it on the main thread: source agent ${perGiB((lastMainCpu[0] - firstMainCpu[0]) / journalGiB)}, recovery agent ${perGiB((lastMainCpu[1] - firstMainCpu[1]) / journalGiB)}`,
    );
    console.log(
      `  memory (RSS, MiB) at the window's end / peak: source agent ${rss[0].now.toFixed(0)} / ${rss[0].peak.toFixed(0)}, recovery agent ${rss[1].now.toFixed(0)} / ${rss[1].peak.toFixed(0)}; ${diskCount} disks`,
    );
    if (writtenRate !== undefined) {
      // The sim VMs' writes happen in the source agent: part of its CPU goes to bytes that are
      // still in the outbox at the window's end.
      const writtenGiB = (writtenRate * seconds) / 1024 ** 3;
      console.log(
        `  source agent per GiB written by the workload (tap, outbox, disk, and sending what it could) ${perGiB((lastCpu[0] - firstCpu[0]) / writtenGiB)}`,
      );
    }
    console.log(`load average during: ${loadDuring}; after: ${load()}`);
  } finally {
    await agents.cleanupAgents();
    if (drRoot !== undefined) rmSync(drRoot, { recursive: true, force: true });
  }
  if (profileDir !== undefined) console.log(`cpu profiles in ${profileDir}/{source,target}`);
}
