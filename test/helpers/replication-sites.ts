/**
 * Two (or more) real agents for replication tests: small sim disks, paired, with console
 * connections, and the tools to check the oracle (export a disk at a checkpoint at the
 * recovery site and compare it with the source disk file).
 *
 *   const hq = await launchSite('Headquarters');   const dr = await launchSite('Recovery DC');
 *   await pairSites(hq, dr);
 *   const vpg = await createVpg(hq, dr, { vmIds: [...] });
 *   await setWorkload(hq, vmId, 2 << 20);
 *   const c = await insertCheckpoint(hq, vpg.vpgId, 'c1'); await waitForCheckpoint(hq, c);
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportDiskImage } from '../../agent/commands/export-disk';
import { Journal } from '../../agent/journal/journal';
import { journalDirFor } from '../../agent/journal/layout';
import {
  CheckpointInfoSchema,
  PairingTokenSchema,
  PeerSchema,
  RpoTickSchema,
  VmSchema,
  VpgStateSchema,
  WorkloadStatusSchema,
  type WorkloadContent,
  type CheckpointInfo,
  type RpoTick,
  type Vm,
  type VpgState,
  type VpgStatus,
  type WorkloadStatus,
} from '../../app/protocol';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  makeTempDir,
  runAgentCli,
  startAgent,
  type InitializedAgent,
  type LogLine,
  type RawClient,
  type RpcResponse,
  type RunningAgent,
} from './agents';
import { agentIdOf } from './peer-client';

export const MiB = 1024 * 1024;

export interface Site {
  readonly name: string;
  readonly creds: InitializedAgent;
  readonly agentId: string;
  readonly siteId: string;
  /** `run` flags, given again on every restart (startSite). */
  readonly runArgs: readonly string[];
  /** Where replication listens when that is not the advertised address (--advertise). */
  readonly replicationListen?: string;
  /** The network namespace the agent runs in. */
  readonly netns?: string;
  agent: RunningAgent;
  client: RawClient;
}

export interface LaunchOptions {
  /** Size of every sim disk (default 16 MiB). */
  readonly diskMiB?: number;
  readonly runArgs?: readonly string[];
  /** `init` flags instead of the sim's small disks (e.g. --hypervisor libvirt …). */
  readonly initArgs?: readonly string[];
  /** Default: a new temp dir. */
  readonly dataDir?: string;
  /** The control listener (default 127.0.0.1 and ports from reservePorts). */
  readonly listen?: string;
  /** Run the agent in this network namespace. */
  readonly netns?: string;
  /** --replication-listen, when the agent advertises another address (--advertise). */
  readonly replicationListen?: string;
}

async function connect(site: Pick<Site, 'agent' | 'creds'>): Promise<RawClient> {
  const client = await connectRaw(site.agent.url, {
    token: site.creds.token,
    fingerprint: site.creds.fingerprint,
  });
  await client.hello();
  return client;
}

export async function launchSite(name: string, options: LaunchOptions = {}): Promise<Site> {
  const creds = await initAgent({
    site: name,
    args: options.initArgs ?? ['--sim-disk-mib', String(options.diskMiB ?? 16)],
    ...(options.dataDir !== undefined && { dataDir: options.dataDir }),
  });
  const runArgs = options.runArgs ?? [];
  const agent = await startAgent({
    dataDir: creds.dataDir,
    args: runArgs,
    ...(options.replicationListen !== undefined && {
      replicationListen: options.replicationListen,
    }),
    ...(options.listen !== undefined && { listen: options.listen }),
    ...(options.netns !== undefined && { netns: options.netns }),
  });
  const config = JSON.parse(await readFile(join(creds.dataDir, 'config.json'), 'utf8')) as {
    siteId: string;
  };
  const partial = {
    name,
    creds,
    agentId: await agentIdOf(creds.dataDir),
    siteId: config.siteId,
    runArgs,
    ...(options.netns !== undefined && { netns: options.netns }),
    ...(options.replicationListen !== undefined && {
      replicationListen: options.replicationListen,
    }),
  };
  return { ...partial, agent, client: await connect({ agent, creds }) };
}

/** Stops the agent: SIGTERM (clean) or SIGKILL (a crash); expects exit code 0 for SIGTERM. */
export async function stopSite(site: Site, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await site.client.close();
  const code = await site.agent.stop(signal);
  if (signal === 'SIGTERM') assert.equal(code, 0, `${site.name} stopped cleanly:\n${tail(site)}`);
}

/**
 * A suite's end: kills the sites' agents (SIGKILL: a failover may be half done), closing their
 * consoles first, then removes every temp dir the suite made (cleanupAgents): stopping a site
 * alone leaves its data directory behind.
 */
export async function killSites(...sites: (Site | undefined)[]): Promise<void> {
  for (const site of sites) if (site !== undefined) await stopSite(site, 'SIGKILL');
  await cleanupAgents();
}

/** Starts the agent again on the same addresses and reconnects the console client. */
export async function startSite(site: Site): Promise<void> {
  site.agent = await startAgent({
    dataDir: site.creds.dataDir,
    listen: site.agent.address,
    replicationListen: site.replicationListen ?? site.agent.replicationAddress,
    args: site.runArgs,
    ...(site.netns !== undefined && { netns: site.netns }),
  });
  site.client = await connect(site);
}

export function tail(site: Site, lines = 40): string {
  return site.agent.logs().split('\n').slice(-lines).join('\n');
}

/** Result of a method, or an assertion failure with the agent's error. */
export async function call<T>(site: Site, method: string, params?: unknown): Promise<T> {
  const response = await site.client.request(method, params, 60_000);
  if (response.error !== undefined) {
    const internal = response.error.code === -32603 ? `\n${tail(site, 10)}` : '';
    throw new Error(
      `${site.name}: ${method} failed: ${response.error.code} ${response.error.message}${internal}`,
    );
  }
  return response.result as T;
}

export async function errorOf(
  site: Site,
  method: string,
  params?: unknown,
): Promise<NonNullable<RpcResponse['error']>> {
  const response = await site.client.request(method, params, 60_000);
  assert.ok(response.error, `${method}: expected an error, got ${JSON.stringify(response.result)}`);
  return response.error;
}

export async function pairSites(a: Site, b: Site): Promise<void> {
  const token = PairingTokenSchema.parse(await call(a, 'site.pairingToken'));
  await call(b, 'site.pair', {
    address: token.address,
    token: token.token,
    fingerprint: token.fingerprint,
  });
  for (const site of [a, b]) await untilLinked(site, true);
}

/** Headquarters and Recovery DC, launched side by side and paired: where two-site tests start. */
export async function pairedSites(): Promise<[Site, Site]> {
  const [hq, dr] = await Promise.all([launchSite('Headquarters'), launchSite('Recovery DC')]);
  await pairSites(hq, dr);
  return [hq, dr];
}

/** Waits until the site's only peer link is (dis)connected. */
export async function untilLinked(site: Site, connected: boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const peers = PeerSchema.array().parse(await call(site, 'site.peers'));
    if ((peers[0]?.link === 'connected') === connected) return;
    if (Date.now() > deadline)
      throw new Error(`${site.name}: link not ${connected ? 'up' : 'down'}`);
    await sleep(100);
  }
}

export async function vms(site: Site): Promise<Vm[]> {
  return VmSchema.array().parse(await call(site, 'vm.list'));
}

export interface VpgOptions {
  readonly name?: string;
  readonly vmIds: readonly string[];
  readonly rpoTargetSeconds?: number;
  readonly checkpointIntervalMs?: number;
  /** Default: the recovery host's first datastore. */
  readonly recoveryDatastore?: string;
  /** Default: 1 h of history within 8 GiB. */
  readonly journal?: {
    readonly historySeconds: number;
    readonly hardLimitBytes: number;
    readonly warningBytes: number;
  };
}

export async function createVpg(
  source: Site,
  target: Site,
  options: VpgOptions,
): Promise<VpgState> {
  const hosts = (
    await call<{ hostId: string; datastores: { name: string }[] }[]>(target, 'host.list')
  )[0];
  assert.ok(hosts, 'the recovery site has a host');
  return VpgStateSchema.parse(
    await call(source, 'vpg.create', {
      name: options.name ?? 'web + db',
      vmIds: options.vmIds,
      recoverySiteId: target.siteId,
      recoveryHostId: hosts.hostId,
      recoveryDatastore: options.recoveryDatastore ?? hosts.datastores[0]?.name,
      journal: options.journal ?? {
        historySeconds: 3600,
        hardLimitBytes: 8 * 1024 * MiB,
        warningBytes: 6 * 1024 * MiB,
      },
      checkpointIntervalMs: options.checkpointIntervalMs ?? 2000,
      rpoTargetSeconds: options.rpoTargetSeconds ?? 10,
    }),
  );
}

export async function vpgState(site: Site, vpgId: string): Promise<VpgState> {
  return VpgStateSchema.parse(await call(site, 'vpg.state', { vpgId }));
}

/** vpg.state until `predicate` holds. */
export async function untilVpg(
  site: Site,
  vpgId: string,
  predicate: (state: VpgState) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<VpgState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await vpgState(site, vpgId);
    if (predicate(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(`${site.name}: ${what} not reached: ${JSON.stringify(state)}\n${tail(site)}`);
    }
    await sleep(200);
  }
}

export const isStatus =
  (...statuses: VpgStatus[]) =>
  (state: VpgState): boolean =>
    statuses.includes(state.status);

export async function setWorkload(
  site: Site,
  vmId: string,
  bytesPerSecond: number,
  extra: {
    paused?: boolean;
    locality?: number;
    mix?: Record<string, number>;
    content?: WorkloadContent;
  } = {},
): Promise<WorkloadStatus> {
  return WorkloadStatusSchema.parse(
    await call(site, 'vm.setWorkload', { vmId, bytesPerSecond, ...extra }),
  );
}

export async function pauseAll(site: Site, vmIds: readonly string[], paused: boolean) {
  for (const vmId of vmIds) {
    await call(site, 'vm.setWorkload', { vmId, bytesPerSecond: 0, paused });
  }
}

export async function insertCheckpoint(
  site: Site,
  vpgId: string,
  name: string,
): Promise<CheckpointInfo> {
  return CheckpointInfoSchema.parse(await call(site, 'checkpoint.insert', { vpgId, name }));
}

export async function waitForCheckpoint(
  site: Site,
  checkpoint: CheckpointInfo,
  timeoutMs = 30_000,
): Promise<CheckpointInfo> {
  return CheckpointInfoSchema.parse(
    await call(site, 'checkpoint.waitFor', {
      vpgId: checkpoint.vpgId,
      seq: checkpoint.seq,
      timeoutMs,
    }),
  );
}

/** SHA-256 of a whole file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * `tideline-agent export-disk` of a disk at a checkpoint, from a (stopped) recovery agent's
 * data directory; resolves with the image's sha256.
 */
export async function exportDisk(
  dataDir: string,
  vpgId: string,
  diskId: string,
  checkpoint: number,
): Promise<{ sha256: string; out: string }> {
  const out = join(await makeTempDir('tideline-export-'), `${diskId}-${checkpoint}.raw`);
  const result = await runAgentCli([
    'export-disk',
    '--data-dir',
    dataDir,
    '--vpg',
    vpgId,
    '--disk',
    diskId,
    '--checkpoint',
    String(checkpoint),
    '--out',
    out,
  ]);
  const sha256 = /sha256=([0-9a-f]{64})/.exec(result.stdout)?.[1];
  assert.ok(
    result.code === 0 && sha256 !== undefined,
    `export-disk failed (${result.code}): ${result.stderr}`,
  );
  return { sha256, out };
}

/** The same export through the journal API, in this process (no CLI start-up per disk). */
export async function exportDiskInProcess(
  dataDir: string,
  vpgId: string,
  diskId: string,
  checkpoint: number,
): Promise<{ sha256: string; out: string }> {
  const out = join(await makeTempDir('tideline-export-'), `${diskId}-${checkpoint}.raw`);
  const result = await exportDiskImage({
    dataDir,
    vpgId,
    diskId,
    checkpoint: String(checkpoint),
    out,
    allowInconsistent: false,
  });
  return { sha256: result.sha256, out };
}

/**
 * `vmCount` VMs of `all` whose disks number `diskCount` in all (the first such choice in
 * inventory order); fails when the inventory has none.
 */
export function pickVms(all: readonly Vm[], vmCount: number, diskCount: number): Vm[] {
  const search = (from: number, chosen: Vm[], disks: number): Vm[] | undefined => {
    if (chosen.length === vmCount) return disks === diskCount ? chosen : undefined;
    for (let i = from; i < all.length; i += 1) {
      const vm = all[i] as Vm;
      if (disks + vm.disks.length > diskCount) continue;
      const found = search(i + 1, [...chosen, vm], disks + vm.disks.length);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const found = search(0, [], 0);
  assert.ok(found, `${vmCount} VMs with ${diskCount} disks in all among ${all.length} VMs`);
  return found;
}

/**
 * Gives a (not yet protected) sim disk file existing contents, as a guest would have: random
 * bytes in three 1 MiB chunks of every four, the fourth left a hole (initial sync skips it).
 */
export async function fillDisk(path: string): Promise<number> {
  const handle = await open(path, 'r+');
  try {
    const { size } = await handle.stat();
    let written = 0;
    for (let at = 0, chunk = 0; at < size; at += MiB, chunk += 1) {
      if (chunk % 4 === 3) continue;
      const bytes = randomBytes(Math.min(MiB, size - at));
      await handle.write(bytes, 0, bytes.length, at);
      written += bytes.length;
    }
    await handle.sync();
    return written;
  } finally {
    await handle.close();
  }
}

/** vm.workload of every VM with a workload. */
export async function workloadStatuses(site: Site): Promise<WorkloadStatus[]> {
  const result = await call<{ workloads: unknown }>(site, 'vm.workload', {});
  return WorkloadStatusSchema.array().parse(result.workloads);
}

/** Writes the workloads of `vmIds` saw acknowledged, in all. */
export async function acknowledgedWrites(site: Site, vmIds: readonly string[]): Promise<number> {
  const all = await workloadStatuses(site);
  return all.filter((w) => vmIds.includes(w.vmId)).reduce((n, w) => n + w.writes, 0);
}

export interface TickRecorder {
  /** rpo.tick of the VPG received so far (including any the client had queued before). */
  readonly ticks: RpoTick[];
  stop(): Promise<void>;
}

/**
 * Collects the VPG's rpo.tick notifications in the background until stopped, across
 * restarts of the site (it reads `site.client` afresh for each one).
 */
export function recordTicks(site: Site, vpgId: string): TickRecorder {
  const ticks: TickRecorder['ticks'] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const params = await site.client.notification('rpo.tick', 500).catch(() => undefined);
      if (params === undefined) {
        if (running) await sleep(50); // a timeout, or the client closed for a restart
        continue;
      }
      const tick = RpoTickSchema.parse(params);
      if (tick.vpgId === vpgId) ticks.push(tick);
    }
  })();
  return {
    ticks,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * The agent's 'event loop stalled' warnings (agent/util/loop-watch.ts) since it started, as
 * "stalled N ms at HH:MM:SS": what a test whose timing failed prints to tell a stalled agent
 * from a slow pipeline.
 */
export function loopStalls(site: Site): string[] {
  return site.agent
    .logLines()
    .filter((line) => line.msg === 'event loop stalled')
    .map((line) => {
      const at = typeof line['time'] === 'string' ? line['time'].slice(11, 19) : '?';
      return `stalled ${String(line['stalledMs'])} ms at ${at}`;
    });
}

/** The first log line at index `from` or later that matches (or waits for it). */
export async function waitForLogSince(
  site: Site,
  from: number,
  predicate: (line: LogLine) => boolean,
  timeoutMs = 30_000,
): Promise<LogLine> {
  let seen = 0;
  return site.agent.waitForLog((line) => {
    seen += 1;
    return seen > from && predicate(line);
  }, timeoutMs);
}

/**
 * Leaves a torn record at the end of the recovery site's journal, as a crash inside the
 * write() of a batch does (the kernel keeps a prefix of it; a kill -9 alone rarely lands
 * there): a prefix of a real record, its length field saying more bytes follow. Only for a
 * stopped agent. Resolves with the number of bytes appended.
 */
export async function tearJournalTail(dataDir: string, vpgId: string): Promise<number> {
  const dir = join(dataDir, 'journal', vpgId);
  const segments = (await readdir(dir)).filter((n) => /^seg-\d{20}\.log$/.test(n)).sort();
  const last = segments.at(-1);
  assert.ok(last, `the journal of ${vpgId} has a segment`);
  const handle = await open(join(dir, last), 'r+');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    assert.ok(bytesRead >= 4, 'the last segment holds a record');
    const recordBytes = head.readUInt32LE(0);
    const torn = head.subarray(0, Math.min(recordBytes - 1, bytesRead));
    const { size } = await handle.stat();
    await handle.write(torn, 0, torn.length, size);
    await handle.sync();
    return torn.length;
  } finally {
    await handle.close();
  }
}

/**
 * Exports disks at checkpoints from a stopped recovery agent's journal, opened once for all
 * (opening verifies every record, so once per export would be slow); resolves with the sha256
 * of each image by `${diskId}@${seq}`. The images are deleted once hashed.
 */
export async function exportImagesInProcess(
  dataDir: string,
  vpgId: string,
  wanted: readonly { readonly diskId: string; readonly seq: number }[],
): Promise<Map<string, string>> {
  const dir = await makeTempDir('tideline-export-');
  const journal = await Journal.openExisting(journalDirFor(dataDir, vpgId));
  const hashes = new Map<string, string>();
  try {
    for (const { diskId, seq } of wanted) {
      const out = join(dir, `${diskId}-${seq}.raw`);
      const image = await journal.exportDisk(diskId, seq, out, { sha256: true });
      assert.ok(image.sha256 !== undefined);
      hashes.set(`${diskId}@${seq}`, image.sha256);
      await rm(out, { force: true });
    }
  } finally {
    await journal.close();
  }
  return hashes;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
