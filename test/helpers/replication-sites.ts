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
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportDiskImage } from '../../agent/commands/export-disk';
import {
  CheckpointInfoSchema,
  PairingTokenSchema,
  PeerSchema,
  VmSchema,
  VpgStateSchema,
  WorkloadStatusSchema,
  type CheckpointInfo,
  type Vm,
  type VpgState,
  type VpgStatus,
  type WorkloadStatus,
} from '../../app/protocol';
import {
  connectRaw,
  initAgent,
  makeTempDir,
  runAgentCli,
  startAgent,
  type InitializedAgent,
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
  agent: RunningAgent;
  client: RawClient;
}

export interface LaunchOptions {
  /** Size of every sim disk (default 16 MiB). */
  readonly diskMiB?: number;
  readonly runArgs?: readonly string[];
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
    args: ['--sim-disk-mib', String(options.diskMiB ?? 16)],
  });
  const agent = await startAgent({ dataDir: creds.dataDir, args: options.runArgs ?? [] });
  const config = JSON.parse(await readFile(join(creds.dataDir, 'config.json'), 'utf8')) as {
    siteId: string;
  };
  const partial = { name, creds, agentId: await agentIdOf(creds.dataDir), siteId: config.siteId };
  return { ...partial, agent, client: await connect({ agent, creds }) };
}

/** Stops the agent: SIGTERM (clean) or SIGKILL (a crash); expects exit code 0 for SIGTERM. */
export async function stopSite(site: Site, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await site.client.close();
  const code = await site.agent.stop(signal);
  if (signal === 'SIGTERM') assert.equal(code, 0, `${site.name} stopped cleanly:\n${tail(site)}`);
}

/** Starts the agent again on the same addresses and reconnects the console client. */
export async function startSite(site: Site): Promise<void> {
  site.agent = await startAgent({
    dataDir: site.creds.dataDir,
    listen: site.agent.address,
    replicationListen: site.agent.replicationAddress,
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
  await call(b, 'site.pair', { address: token.address, token: token.token });
  for (const site of [a, b]) await untilLinked(site, true);
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
      recoveryDatastore: hosts.datastores[0]?.name,
      journal: {
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
  extra: { paused?: boolean; locality?: number; mix?: Record<string, number> } = {},
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
