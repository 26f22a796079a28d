/**
 * A small in-test agent for the console's unit tests: a real TLS WebSocket server with a
 * self-signed certificate, bearer-token auth and the agent method table served through the
 * app's Dispatcher. Integration tests use the real daemon instead (test/helpers/agents.ts).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, X509Certificate, webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { TidelineError } from '../../app/errors';
import {
  Dispatcher,
  PROTOCOL_VERSION,
  agentMethods,
  agentNotifications,
  encodeNotification,
  type AgentMethods,
  type Handlers,
  type Host,
  type InventoryKind,
  type RpoTick,
  type SiteDetails,
  type EstateSnapshot,
  type Peer,
  type Vm,
  type VpgState,
} from '../../app/protocol';
import type { Task } from '../../app/task/task-schemas';
import type { ConsoleCore } from '../../main/services/console-core';
import type { Policy } from '../../app/policy/policy-schemas';
import type { Alert } from '../../app/alerts/alert-schemas';
import type { FailoverStatus } from '../../app/recovery/recovery-schemas';

type ProviderCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
x509.cryptoProvider.set(webcrypto as unknown as ProviderCrypto);

export interface TestIdentity {
  readonly keyPem: string;
  readonly certPem: string;
  readonly fingerprint: string;
}

export async function makeIdentity(cn = 'fake-agent'): Promise<TestIdentity> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys: keys as unknown as KeyPair,
  });
  const certPem = cert.toString('pem');
  const keyPem = KeyObject.from(keys.privateKey)
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return { keyPem, certPem, fingerprint: new X509Certificate(certPem).fingerprint256 };
}

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface FakeAgentOptions {
  readonly identity: TestIdentity;
  readonly token?: string;
  readonly port?: number;
  readonly siteId?: string;
  readonly agentId?: string;
  /** Refuse hello with PROTOCOL_VERSION. */
  readonly incompatible?: boolean;
}

export class FakeAgent {
  site: SiteDetails;
  hosts: Host[];
  vms: Vm[];
  /** Every HTTP request that reached the server (an upgrade carries the token). */
  readonly requests: { authorization: string | undefined }[] = [];
  readonly clients = new Set<WebSocket>();
  /** Calendar policies by target (policy.get/set), versioned like the real agent's. */
  readonly policies = new Map<string, Policy>();
  /** Alerts as alert.list answers them (oldest first here; listed newest first). */
  readonly alerts: Alert[] = [];
  /** Failovers as failover.list answers them. */
  readonly failovers: FailoverStatus[] = [];
  /** VPGs this agent holds as recovery site: failover.* of others answer NOT_FOUND. */
  readonly recoveryVpgs = new Set<string>();
  /**
   * An estate to serve (bench:console): VPGs for vpg.list, peers for site.peers, tasks for
   * task.list. Undefined: those methods answer UNAVAILABLE, as for the console's unit tests.
   */
  vpgs: VpgState[] | undefined;
  peers: Peer[] | undefined;
  tasks: Task[] | undefined;
  /** Every failover.* call that started a task, in order. */
  readonly failoverCalls: { method: string; params: unknown }[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  port = 0;

  constructor(private readonly options: FakeAgentOptions) {
    const siteId = options.siteId ?? 'site-a';
    this.site = { siteId, name: `Site ${siteId}`, location: 'Rack 1', contact: 'ops@example.com' };
    this.hosts = [
      {
        hostId: `${siteId}-h1`,
        name: `${siteId}-h1.local`,
        hypervisor: 'sim',
        hypervisorVersion: '1',
        agentState: 'installed',
        cpuCores: 8,
        memoryMiB: 16384,
        datastores: [{ name: 'ds1', capacityBytes: 1000, freeBytes: 500 }],
      },
    ];
    this.vms = [vm(`${siteId}-vm1`, `${siteId}-h1`)];
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get fingerprint(): string {
    return this.options.identity.fingerprint;
  }

  async start(): Promise<this> {
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer({
      key: this.options.identity.keyPem,
      cert: this.options.identity.certPem,
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      this.requests.push({ authorization: req.headers.authorization });
      res.writeHead(426).end();
    });
    server.on('upgrade', (req, socket, head) => {
      this.requests.push({ authorization: req.headers.authorization });
      if (req.headers.authorization !== `Bearer ${this.options.token ?? TEST_TOKEN}`) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws));
    });
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    for (const s of this.sockets) s.destroy();
    this.wss?.close();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  notify(kinds: InventoryKind[]): void {
    const frame = encodeNotification(agentNotifications, 'inventory.changed', {
      siteId: this.site.siteId,
      kinds,
    });
    for (const ws of this.clients) ws.send(frame);
  }

  /** Keeps the alert and sends alert.raised or alert.cleared to every console. */
  alert(event: 'raised' | 'cleared', alert: Alert): void {
    const i = this.alerts.findIndex((a) => a.alertId === alert.alertId);
    if (i === -1) this.alerts.push(alert);
    else this.alerts[i] = alert;
    const frame = encodeNotification(agentNotifications, `alert.${event}`, alert);
    for (const ws of this.clients) ws.send(frame);
  }

  /** Keeps the failover and sends failover.status to every console. */
  failoverStatus(status: FailoverStatus): void {
    const i = this.failovers.findIndex((f) => f.failoverId === status.failoverId);
    if (i === -1) this.failovers.push(status);
    else this.failovers[i] = status;
    const frame = encodeNotification(agentNotifications, 'failover.status', status);
    for (const ws of this.clients) ws.send(frame);
  }

  /** A failover.* call: a task id, or NOT_FOUND for a VPG this agent does not recover. */
  private failoverCall(method: string, params: { vpgId: string }): { taskId: string } {
    if (!this.recoveryVpgs.has(params.vpgId)) {
      throw new TidelineError('NOT_FOUND', `VPG ${params.vpgId} has no journal at this agent`);
    }
    this.failoverCalls.push({ method, params });
    return { taskId: `task-${this.failoverCalls.length}` };
  }

  /** Sends an rpo.tick to every console. */
  tick(tick: RpoTick): void {
    const frame = encodeNotification(agentNotifications, 'rpo.tick', tick);
    for (const ws of this.clients) ws.send(frame);
  }

  private serve(ws: WebSocket): void {
    this.clients.add(ws);
    ws.on('close', () => this.clients.delete(ws));
    const dispatcher = new Dispatcher(agentMethods, this.handlers());
    ws.on('message', (data) => {
      void dispatcher.handleText(String(data), undefined).then((out) => {
        if (out !== undefined) ws.send(out);
      });
    });
  }

  private handlers(): Handlers<AgentMethods, undefined> {
    return {
      hello: (p) => {
        if (this.options.incompatible || p.protocolVersion !== PROTOCOL_VERSION) {
          throw new TidelineError(
            'PROTOCOL_VERSION',
            'This agent speaks protocol versions 7..9 only.',
          );
        }
        return {
          protocolVersion: PROTOCOL_VERSION,
          supported: { min: 1, max: PROTOCOL_VERSION },
          agent: {
            agentId: this.options.agentId ?? `agent-${this.site.siteId}`,
            siteId: this.site.siteId,
            siteName: this.site.name,
            hostName: 'fake',
            version: '0.0.0',
            fingerprint: this.fingerprint,
          },
        };
      },
      'site.details': () => this.site,
      'site.setDetails': (patch) => {
        this.site = {
          ...this.site,
          ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
        };
        setImmediate(() => this.notify(['site']));
        return this.site;
      },
      'site.pairingToken': () => unavailable('site.pairingToken'),
      'site.pair': () => unavailable('site.pair'),
      'site.unpair': () => unavailable('site.unpair'),
      'site.peers': () => this.peers ?? unavailable('site.peers'),
      'site.setLinkCompression': () => unavailable('site.setLinkCompression'),
      'host.list': () => this.hosts,
      'vm.list': () => this.vms,
      'vpg.create': () => unavailable('vpg.create'),
      'vpg.list': () => this.vpgs ?? unavailable('vpg.list'),
      'vpg.state': () => unavailable('vpg.state'),
      'vpg.status': () => unavailable('vpg.status'),
      'vpg.remove': () => unavailable('vpg.remove'),
      'checkpoint.list': () => unavailable('checkpoint.list'),
      'checkpoint.insert': () => unavailable('checkpoint.insert'),
      'checkpoint.waitFor': () => unavailable('checkpoint.waitFor'),
      'vm.setWorkload': () => unavailable('vm.setWorkload'),
      'vm.workload': () => unavailable('vm.workload'),
      'vpg.update': () => unavailable('vpg.update'),
      'vpg.forceUpdate': () => unavailable('vpg.forceUpdate'),
      'vpg.addVm': () => unavailable('vpg.addVm'),
      'vpg.removeVm': () => unavailable('vpg.removeVm'),
      'vpg.forceRemove': () => unavailable('vpg.forceRemove'),
      'checkpoint.exportDisk': () => unavailable('checkpoint.exportDisk'),
      'metrics.history': () => unavailable('metrics.history'),
      'task.list': () => this.tasks ?? unavailable('task.list'),
      'task.get': () => unavailable('task.get'),
      'task.completionCode': () => unavailable('task.completionCode'),
      'task.result': () => unavailable('task.result'),
      'task.exception': () => unavailable('task.exception'),
      'task.waitFor': () => unavailable('task.waitFor'),
      'task.abort': () => unavailable('task.abort'),
      'failover.test': (p) => this.failoverCall('failover.test', p),
      'failover.stopTest': (p) => this.failoverCall('failover.stopTest', p),
      'failover.live': (p) => this.failoverCall('failover.live', p),
      'failover.move': (p) => this.failoverCall('failover.move', p),
      'failover.commit': (p) => this.failoverCall('failover.commit', p),
      'failover.rollback': (p) => this.failoverCall('failover.rollback', p),
      'failover.list': () => structuredClone(this.failovers),
      'failover.discardTests': () => unavailable('failover.discardTests'),
      'vpg.settingsForReverse': () => unavailable('vpg.settingsForReverse'),
      'vpg.metadata': () => unavailable('vpg.metadata'),
      'network.list': () => unavailable('network.list'),
      'log.collect': () => unavailable('log.collect'),
      'log.bundleRead': () => unavailable('log.bundleRead'),
      'log.bundleRemove': () => unavailable('log.bundleRemove'),
      'policy.get': ({ target }) => {
        const policy = this.policies.get(JSON.stringify(target));
        return { target, ...(policy && { policy }) };
      },
      'policy.set': ({ target, policy }) => {
        const key = JSON.stringify(target);
        const current = this.policies.get(key)?.version ?? 0;
        if (policy !== null && policy.version !== current) {
          throw new TidelineError('CONFLICT', `policy version ${policy.version} is outdated`);
        }
        if (policy === null) this.policies.delete(key);
        else this.policies.set(key, { ...policy, version: current + 1 });
        const stored = this.policies.get(key);
        return { target, ...(stored && { policy: stored }) };
      },
      'policy.validate': () => unavailable('policy.validate'),
      'alert.list': () => [...this.alerts].reverse(),
      'alert.ack': ({ alertId }) => {
        const alert = this.alerts.find((a) => a.alertId === alertId);
        if (alert === undefined) {
          throw new TidelineError('NOT_FOUND', `Alert ${alertId} is not on this agent`);
        }
        alert.acknowledgedAt ??= Date.now();
        return alert;
      },
    };
  }
}

/** Pairing and replication are not simulated: the console tests that need them run real agents. */
function unavailable(method: string): never {
  throw new TidelineError('UNAVAILABLE', `${method} is not implemented by the fake agent`);
}

export function vm(vmId: string, hostId: string): Vm {
  return {
    vmId,
    name: vmId,
    hostId,
    powerState: 'running',
    cpus: 2,
    memoryMiB: 2048,
    guestOs: 'linux',
    nics: [],
    disks: [],
  };
}

/** A port that was free a moment ago (listen on 0, close). */
export async function freePort(): Promise<number> {
  const { createServer: createNet } = await import('node:net');
  return new Promise<number>((resolve, reject) => {
    const srv = createNet();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves with the first snapshot (current or next estate.changed) that satisfies `predicate`. */
export function untilEstate(
  core: ConsoleCore,
  predicate: (s: EstateSnapshot) => boolean,
  what = 'estate condition',
  timeoutMs = 10_000,
): Promise<EstateSnapshot> {
  const now = core.snapshot();
  if (predicate(now)) return Promise.resolve(now);
  return new Promise<EstateSnapshot>((resolve, reject) => {
    const timer = setTimeout(() => {
      core.events.off('estate.changed', listener);
      reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(core.snapshot().agents)}`));
    }, timeoutMs);
    const listener = (s: EstateSnapshot): void => {
      if (!predicate(s)) return;
      clearTimeout(timer);
      core.events.off('estate.changed', listener);
      resolve(s);
    };
    core.events.on('estate.changed', listener);
  });
}

export function agentState(s: EstateSnapshot, address: string): string | undefined {
  return s.agents.find((a) => a.address === address)?.state;
}
