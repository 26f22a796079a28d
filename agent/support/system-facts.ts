import {
  arch,
  cpus,
  freemem,
  hostname,
  loadavg,
  platform,
  release,
  totalmem,
  type,
  uptime,
} from 'node:os';
import { freeBytes } from '../util/disk-space';
import { AGENT_VERSION } from '../version';
import { PROTOCOL_VERSION } from '../../app/protocol';

export interface SystemSources {
  readonly dataDir: string;
  readonly agentId: string;
  readonly siteId: string;
  readonly hypervisor: string;
}

/** The facts support asks about the host before anything else. */
export async function systemFacts(sources: SystemSources): Promise<Record<string, unknown>> {
  const cpuList = cpus();
  return {
    collectedAt: new Date().toISOString(),
    agent: {
      agentId: sources.agentId,
      siteId: sources.siteId,
      version: AGENT_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      hypervisor: sources.hypervisor,
      pid: process.pid,
      uptimeSeconds: Math.round(process.uptime()),
      memory: process.memoryUsage(),
    },
    node: { version: process.version, versions: process.versions },
    os: {
      type: type(),
      platform: platform(),
      release: release(),
      arch: arch(),
      hostname: hostname(),
      uptimeSeconds: Math.round(uptime()),
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    },
    cpu: { count: cpuList.length, model: cpuList[0]?.model ?? 'unknown', loadavg: loadavg() },
    memory: { totalBytes: totalmem(), freeBytes: freemem() },
    dataDir: {
      path: sources.dataDir,
      freeBytes: await freeBytes(sources.dataDir).catch(() => null),
    },
  };
}
