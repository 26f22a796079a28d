// A simulated estate for bench:console: many lightweight agents (the console's unit-test fake
// agent: real TLS WebSocket servers speaking the agent protocol, no hypervisor, no journal),
// paired in twos, the protected side of each pair holding its share of the VPGs and sending an
// rpo.tick for every one of them each second, as real agents do.
import type { Peer, RpoTick, VpgState } from '../../app/protocol';
import { FakeAgent, makeIdentity, vm, TEST_TOKEN } from '../unit/console-fake-agent';

export interface EstateSim {
  readonly agents: readonly FakeAgent[];
  /** The console's seed file entries for every agent. */
  readonly seed: readonly { address: string; token: string; fingerprint: string }[];
  readonly vpgNames: readonly string[];
  /** rpo.tick for every VPG once a second until stop(); returns the ticks sent so far. */
  ticksSent(): number;
  stop(): Promise<void>;
}

const GIB = 2 ** 30;

export async function startEstateSim(options: {
  readonly agents: number;
  readonly vpgs: number;
}): Promise<EstateSim> {
  const pairs = Math.max(1, Math.floor(options.agents / 2));
  const identity = await makeIdentity('bench-agent');
  const agents: FakeAgent[] = [];
  for (let i = 0; i < pairs * 2; i += 1) {
    const siteId = `site-${String(i).padStart(2, '0')}`;
    const agent = new FakeAgent({ identity, siteId, agentId: `agent-${siteId}` });
    agent.site = {
      ...agent.site,
      name: i < pairs ? `Branch ${i + 1}` : `Recovery ${i - pairs + 1}`,
    };
    agents.push(await agent.start());
  }
  const now = Date.now();
  const vpgNames: string[] = [];
  const ticking: { agent: FakeAgent; vpgs: VpgState[] }[] = [];
  for (let p = 0; p < pairs; p += 1) {
    const source = agents[p]!;
    const target = agents[p + pairs]!;
    const count = Math.floor(options.vpgs / pairs) + (p < options.vpgs % pairs ? 1 : 0);
    const host = source.hosts[0]!.hostId;
    source.vms = [];
    const vpgs: VpgState[] = [];
    for (let v = 0; v < count; v += 1) {
      const vmIds = [0, 1].map((k) => `${source.site.siteId}-vm${v * 2 + k}`);
      for (const id of vmIds) source.vms.push({ ...vm(id, host), name: `${id}.app` });
      const name = `${source.site.name} app ${v + 1}`;
      vpgNames.push(name);
      vpgs.push({
        vpgId: `vpg-${source.site.siteId}-${v}`,
        name,
        vmIds,
        protectedSiteId: source.site.siteId,
        recoverySiteId: target.site.siteId,
        recoveryHostId: target.hosts[0]!.hostId,
        recoveryDatastore: 'ds1',
        journal: { historySeconds: 4 * 3600, hardLimitBytes: 20 * GIB, warningBytes: 15 * GIB },
        checkpointIntervalMs: 5000,
        rpoTargetSeconds: 30,
        disks: vmIds.map((vmId) => ({ vmId, diskId: `${vmId}-d0`, sizeBytes: 40 * GIB })),
        status: 'Protecting',
        createdAt: now - 86_400_000,
        version: 1,
        role: 'source',
        rpoSeconds: 4,
        backlogBytes: 0,
        journalBytes: GIB,
        lastSeq: 1000,
        confirmedSeq: 1000,
      });
    }
    source.vpgs = vpgs;
    target.vpgs = vpgs.map((v) => ({ ...v, role: 'target' }));
    source.peers = [peer(target, now)];
    target.peers = [peer(source, now)];
    ticking.push({ agent: source, vpgs });
  }
  for (const a of agents) a.tasks ??= [];

  let sent = 0;
  let second = 0;
  const timer = setInterval(() => {
    second += 1;
    const time = Date.now();
    for (const { agent, vpgs } of ticking) {
      vpgs.forEach((v, i) => {
        // A few VPGs miss their target now and then, so statuses and colours change.
        const rpo = 3 + ((second + i) % 17) + (i % 25 === 0 && second % 20 < 5 ? 40 : 0);
        const tick: RpoTick = {
          vpgId: v.vpgId,
          time,
          rpoSeconds: rpo,
          rpoTargetSeconds: v.rpoTargetSeconds,
          writtenBytesPerSecond: 2e6 + ((i * 7919 + second * 104_729) % 3e6),
          sentBytesPerSecond: 2e6,
          backlogBytes: rpo > 30 ? 50e6 : 0,
          journalBytes: GIB,
          journalHardLimitBytes: v.journal.hardLimitBytes,
          status: rpo > v.rpoTargetSeconds ? 'RpoNotMet' : 'Protecting',
        };
        agent.tick(tick);
        sent += 1;
      });
    }
  }, 1000);

  return {
    agents,
    seed: agents.map((a) => ({
      address: a.address,
      token: TEST_TOKEN,
      fingerprint: a.fingerprint,
    })),
    vpgNames,
    ticksSent: () => sent,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(agents.map((a) => a.stop()));
    },
  };
}

function peer(agent: FakeAgent, pairedAt: number): Peer {
  return {
    agentId: `agent-${agent.site.siteId}`,
    siteId: agent.site.siteId,
    siteName: agent.site.name,
    address: `127.0.0.1:${agent.port + 1}`,
    fingerprint: agent.fingerprint,
    pairedAt,
    compression: 'off',
    link: 'connected',
  };
}
