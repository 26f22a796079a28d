import { RefusalLog } from '../util/refusal-log';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { TidelineError } from '../../app/errors';
import {
  AddressSchema,
  type PairParams,
  type PairingToken,
  type Peer,
  type SetLinkCompressionParams,
  type Unsubscribe,
} from '../../app/protocol';
import { formatAddress } from '../config/listen';
import type { ListenAddress } from '../control/control-server';
import type { Logger } from '../log';
import { AuthThrottle } from '../security/auth-throttle';
import { drop } from '../util/drop';
import { LZ4 } from '../util/lz4';
import { ControlRegistry, type ControlHandler } from './control-channel';
import type { FrameConnection } from './frame-connection';
import { HelloSchema, agreeVersion, type Hello } from './messages';
import {
  acceptPairing,
  decodeOrRefuse,
  refusePeer,
  requestPairing,
  type PairingSelf,
} from './pairing';
import { PairingTokens } from './pairing-tokens';
import { DEFAULT_LINK_TUNING, PeerLink, linkRole, type LinkTuning } from './peer-link';
import { PeerStore, type PeerRecord } from './peer-store';
import { ReplicationServer } from './replication-server';
import type { TlsKeyPair } from './tls-dial';
import { FrameType, PEER_PROTOCOL, protocolError, type Frame } from './wire';
import { sleep } from '../util/sleep';

export interface PeerServiceOptions {
  readonly agentId: string;
  readonly siteId: string;
  /** This agent's certificate fingerprint. */
  readonly fingerprint: string;
  readonly siteName: () => string;
  readonly tls: TlsKeyPair;
  /** Where the replication listener binds. */
  readonly listen: ListenAddress;
  /** The address peers dial (host:port); default from the listen address, see advertisedAddress. */
  readonly advertise?: string;
  /** state/peers.json */
  readonly peersFile: string;
  readonly log: Logger;
  /** Pairing token lifetime (default 10 minutes). */
  readonly pairingTokenTtlMs?: number;
  readonly tuning?: Partial<LinkTuning>;
  /** A peer was paired or unpaired, or a link went up or down: tell the consoles. */
  readonly onPeersChanged: () => void;
}

export interface PeerServiceEvents {
  /** A link exists for a newly paired agent (or at start for each paired one). */
  link: [link: PeerLink];
  /** The agent was unpaired; its link is stopped. */
  unlink: [agentId: string];
}

export interface ReplicationEndpoint {
  /** Advertised address (host:port): what pairing tokens and HELLO carry. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Site pairing and the links to paired agents: the replication listener, pairing tokens, the
 * persisted peers, and one PeerLink per peer. Start order: peers, listener, links; stop in
 * reverse, each failure isolated.
 */
export class PeerService {
  readonly events = new EventEmitter<PeerServiceEvents>();
  private readonly store: PeerStore;
  private readonly tokens: PairingTokens;
  private readonly throttle = new AuthThrottle({ freeFailures: 5, baseDelayMs: 1000 });
  private readonly refusals: RefusalLog;
  private readonly control = new ControlRegistry();
  private readonly linksById = new Map<string, PeerLink>();
  private readonly pairingConns = new Set<FrameConnection>();
  private readonly tuning: LinkTuning;
  private server: ReplicationServer | undefined;
  private endpoint: ReplicationEndpoint | undefined;
  private stopped = false;

  constructor(private readonly options: PeerServiceOptions) {
    this.store = new PeerStore(options.peersFile);
    this.tokens = new PairingTokens(
      options.pairingTokenTtlMs === undefined ? {} : { ttlMs: options.pairingTokenTtlMs },
    );
    this.tuning = { ...DEFAULT_LINK_TUNING, ...options.tuning };
    this.refusals = new RefusalLog({ log: options.log, what: 'refused peer connections' });
    this.control.handle('peer.ping', () => ({
      agentId: options.agentId,
      siteName: options.siteName(),
      time: Date.now(),
    }));
  }

  async start(): Promise<ReplicationEndpoint> {
    const { log } = this.options;
    await this.store.load();
    this.server = new ReplicationServer({
      listen: this.options.listen,
      tls: this.options.tls,
      log,
      handshakeTimeoutMs: this.tuning.handshakeTimeoutMs,
      isPinned: (fingerprint) => this.store.byFingerprint(fingerprint) !== undefined,
      refusals: this.refusals,
      route: (conn, first) => this.route(conn, first),
    });
    const bound = await this.server.start();
    this.endpoint = {
      address: this.options.advertise ?? advertisedAddress(bound),
      host: bound.host,
      port: bound.port,
    };
    if (!AddressSchema.safeParse(this.endpoint.address).success) {
      log.error(
        { address: this.endpoint.address },
        'the replication address is not a valid host:port: peers cannot reach this agent; set --advertise HOST:PORT',
      );
    }
    for (const peer of this.store.list()) this.addLink(peer).start();
    return this.endpoint;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const { log } = this.options;
    const isolate = async (what: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (err) {
        log.error({ err, part: what }, 'failed to stop cleanly');
      }
    };
    // The listener stops accepting at once, but its close completes only when every
    // connection is gone: the links are closed meanwhile.
    const listenerClosed = isolate('replication listener', async () => this.server?.stop());
    for (const conn of this.pairingConns) conn.destroy('the agent is shutting down');
    await Promise.all(
      [...this.linksById.values()].map((link) =>
        isolate(`link ${link.peerAgentId}`, () => link.stop()),
      ),
    );
    this.server?.destroyAll(); // whatever is left: handshakes, refused connections closing
    this.refusals.stop();
    await listenerClosed;
  }

  /** The advertised replication address (after start). */
  get address(): string {
    if (this.endpoint === undefined) throw new Error('peer service used before start()');
    return this.endpoint.address;
  }

  /** The advertised address, refused with what to do if peers could not use it. */
  private usableAddress(): string {
    const address = this.address;
    if (!AddressSchema.safeParse(address).success) {
      throw new TidelineError(
        'UNAVAILABLE',
        `This agent's replication address "${address}" is not a host:port other agents can dial: restart it with --advertise HOST:PORT`,
      );
    }
    return address;
  }

  // ───────────────────────── for the replication engine ─────────────────────────

  link(agentId: string): PeerLink | undefined {
    return this.linksById.get(agentId);
  }

  links(): PeerLink[] {
    return [...this.linksById.values()];
  }

  /** Serves a control method to every peer (`link.request(method, params)` on their side). */
  handleControl(method: string, handler: ControlHandler): Unsubscribe {
    return this.control.handle(method, handler);
  }

  // ───────────────────────── the console's site.* methods ─────────────────────────

  pairingToken(): PairingToken {
    const address = this.usableAddress();
    const { token, expiresAt } = this.tokens.issue();
    this.options.log.info({ expiresAt: new Date(expiresAt).toISOString() }, 'pairing token issued');
    return {
      token,
      expiresAt,
      address,
      fingerprint: this.options.fingerprint,
      siteId: this.options.siteId,
      siteName: this.options.siteName(),
    };
  }

  async pair(params: PairParams): Promise<Peer> {
    this.ensureRunning();
    this.usableAddress();
    let record: PeerRecord;
    try {
      record = await requestPairing(params, {
        self: this.self(),
        tls: this.options.tls,
        store: this.store,
        log: this.options.log,
        timeoutMs: this.tuning.handshakeTimeoutMs,
      });
    } catch (err) {
      this.options.log.warn(
        { address: params.address, err: err instanceof Error ? err.message : String(err) },
        'pairing failed',
      );
      throw err;
    }
    const link = this.addLink(record);
    link.start();
    this.options.onPeersChanged();
    return link.describe();
  }

  async unpair(agentId: string): Promise<void> {
    this.ensureRunning();
    const record = this.store.byAgentId(agentId);
    if (record === undefined) {
      throw new TidelineError('NOT_FOUND', `This agent is not paired with agent ${agentId}`, {
        agentId,
      });
    }
    await this.forget(agentId, 'unpaired by the admin', true);
  }

  /** The admin's compression setting of what this agent sends to a peer (persisted). */
  async setCompression({ agentId, compression }: SetLinkCompressionParams): Promise<Peer> {
    this.ensureRunning();
    if (this.store.byAgentId(agentId) === undefined) {
      throw new TidelineError('NOT_FOUND', `This agent is not paired with agent ${agentId}`, {
        agentId,
      });
    }
    if (compression === 'lz4' && LZ4 === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        'This agent build has no LZ4 (its native binary did not load): reinstall the agent package to compress',
      );
    }
    if (await this.store.update(agentId, { compression })) {
      const record = this.store.byAgentId(agentId);
      if (record !== undefined) this.linksById.get(agentId)?.updatePeer(record);
      this.options.log.info({ peer: agentId, compression }, 'link compression set');
      this.options.onPeersChanged();
    }
    const peer = this.list().find((p) => p.agentId === agentId);
    if (peer === undefined) throw new TidelineError('NOT_FOUND', `Agent ${agentId} was unpaired`);
    return peer;
  }

  list(): Peer[] {
    return this.store
      .list()
      .map(
        (record) =>
          this.linksById.get(record.agentId)?.describe() ?? { ...record, link: 'disconnected' },
      );
  }

  // ───────────────────────── internals ─────────────────────────

  private self(): PairingSelf {
    return {
      agentId: this.options.agentId,
      siteId: this.options.siteId,
      fingerprint: this.options.fingerprint,
      siteName: this.options.siteName,
      address: () => this.address,
    };
  }

  private ensureRunning(): void {
    if (this.stopped || this.endpoint === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        'The agent is starting or shutting down: retry in a moment',
      );
    }
  }

  private addLink(record: PeerRecord): PeerLink {
    const { log } = this.options;
    const existing = this.linksById.get(record.agentId);
    if (existing !== undefined) return existing;
    const agentId = record.agentId;
    const link = new PeerLink({
      self: {
        agentId: this.options.agentId,
        siteId: this.options.siteId,
        siteName: this.options.siteName,
        address: () => this.address,
      },
      peer: record,
      tls: this.options.tls,
      tuning: this.tuning,
      control: this.control,
      log: log.child({ peer: agentId }),
      onUnpairedByPeer: (reason) =>
        drop(this.forget(agentId, reason, false), (err) =>
          log.error({ err, peer: agentId }, 'cannot forget the peer'),
        ),
      onPeerInfo: (info) =>
        drop(this.updatePeer(agentId, info), (err) => log.error({ err }, 'cannot update the peer')),
      onStateChange: () => this.options.onPeersChanged(),
    });
    link.on('up', () => this.verifyLink(link));
    this.linksById.set(agentId, link);
    this.events.emit('link', link);
    return link;
  }

  /** Proves the control channel on each new connection: peer.ping, logged with its time. */
  private verifyLink(link: PeerLink): void {
    const { log } = this.options;
    const started = performance.now();
    drop(
      link.request('peer.ping', {}, this.tuning.handshakeTimeoutMs).then((answer) => {
        log.info(
          {
            peer: link.peerAgentId,
            site: link.describe().siteName,
            role: link.role,
            rttMs: Math.round((performance.now() - started) * 10) / 10,
            answer,
          },
          'peer link up',
        );
      }),
      (err) =>
        log.info(
          { peer: link.peerAgentId, err: err instanceof Error ? err.message : String(err) },
          'peer ping failed',
        ),
    );
  }

  private async updatePeer(
    agentId: string,
    info: Pick<Hello, 'address' | 'siteName'>,
  ): Promise<void> {
    if (!(await this.store.update(agentId, info))) return;
    const record = this.store.byAgentId(agentId);
    if (record !== undefined) this.linksById.get(agentId)?.updatePeer(record);
    this.options.log.info({ peer: agentId, ...info }, 'peer details updated');
    this.options.onPeersChanged();
  }

  /** Removes the peer (persisted first), stops its link; `tell`: send UNPAIR over the link. */
  private async forget(agentId: string, reason: string, tell: boolean): Promise<void> {
    const removed = await this.store.remove(agentId);
    const link = this.linksById.get(agentId);
    this.linksById.delete(agentId);
    if (link !== undefined) await (tell ? link.unpair() : link.stop('unpaired'));
    if (!removed && link === undefined) return;
    this.options.log.warn({ peer: agentId, reason }, 'peer unpaired');
    this.events.emit('unlink', agentId);
    this.options.onPeersChanged();
  }

  /** First frame of an incoming connection: HELLO of a pinned peer, or PAIR with a token. */
  private async route(conn: FrameConnection, first: Frame): Promise<void> {
    const { log } = this.options;
    if (this.stopped) {
      conn.refuse('shutting-down', 'UNAVAILABLE', 'The agent is shutting down');
      return;
    }
    if (first.type === FrameType.PAIR) {
      this.pairingConns.add(conn);
      try {
        const record = await acceptPairing(conn, first.payload, {
          self: this.self(),
          tokens: this.tokens,
          store: this.store,
          throttle: this.throttle,
          log,
          refusals: this.refusals,
        });
        if (record === undefined) return;
        // Nothing more may come on a pairing connection; reading on lets us see it close.
        conn.setHandler((frame) => {
          throw protocolError(`unexpected frame type ${frame.type} after PAIR_OK`);
        });
        this.options.onPeersChanged();
        // The dialer closes the pairing connection once it has saved us: only then may we
        // dial it (it would refuse us as not paired before).
        const done = Promise.race([conn.closed, sleep(this.tuning.handshakeTimeoutMs)]);
        this.addLink(record).start(done);
        await done;
        conn.close('pairing done');
      } finally {
        this.pairingConns.delete(conn);
      }
      return;
    }
    if (first.type !== FrameType.HELLO) {
      refusePeer(
        conn,
        this.refusals,
        'protocol',
        'INVALID_REQUEST',
        `Expected HELLO or PAIR as the first frame, got type ${first.type}`,
      );
      return;
    }
    this.acceptHello(conn, first.payload);
  }

  private acceptHello(conn: FrameConnection, payload: Buffer): void {
    const site = this.options.siteName();
    const hello = decodeOrRefuse<Hello>(conn, this.refusals, payload, HelloSchema, 'HELLO');
    if (hello === undefined) return;
    const context = { agentId: hello.agentId, site: hello.siteName };
    const fingerprint = conn.peerFingerprint;
    if (fingerprint === undefined) {
      refusePeer(
        conn,
        this.refusals,
        'no-certificate',
        'UNAUTHORIZED',
        `Site "${site}" accepts only paired agents, identified by their certificate: none was presented`,
        context,
      );
      return;
    }
    const record = this.store.byFingerprint(fingerprint);
    if (record === undefined || record.agentId !== hello.agentId) {
      refusePeer(
        conn,
        this.refusals,
        'not-paired',
        'UNAUTHORIZED',
        `Site "${site}" is not paired with this agent (certificate ${fingerprint}); pair the sites from the console first`,
        context,
      );
      return;
    }
    const version = agreeVersion(PEER_PROTOCOL, hello);
    if (version === undefined) {
      refusePeer(
        conn,
        this.refusals,
        'version',
        'PROTOCOL_VERSION',
        `Site "${site}" speaks peer protocol ${PEER_PROTOCOL.min}–${PEER_PROTOCOL.max}, this agent ${hello.min}–${hello.max}: upgrade the older agent`,
        context,
      );
      return;
    }
    const link = this.linksById.get(record.agentId);
    if (link === undefined || linkRole(this.options.agentId, record.agentId) !== 'acceptor') {
      refusePeer(
        conn,
        this.refusals,
        'wrong-direction',
        'CONFLICT',
        `Between these two agents, agent ${this.options.agentId} dials (the smaller agent id): site "${site}" does not accept this connection`,
        context,
      );
      return;
    }
    link.accept(conn, hello, version);
  }
}

/**
 * The address to advertise for a bound listener: its host and port, or, for a wildcard host
 * (0.0.0.0, ::), this machine's host name.
 */
export function advertisedAddress(bound: ListenAddress, hostName: string = hostname()): string {
  const wildcard = bound.host === '0.0.0.0' || bound.host === '::' || bound.host === '';
  return formatAddress({ host: wildcard ? hostName : bound.host, port: bound.port });
}
